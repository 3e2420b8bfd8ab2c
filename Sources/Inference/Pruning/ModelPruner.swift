import CKernels
import Foundation

/// `sparkchat prune`: one-shot magnitude or N:M pruning of a GGUF model's layer matrices,
/// written as a new GGUF that every command (and llama.cpp) loads like any other model.
/// Everything but the pruned matrices is copied byte for byte; metadata keys
/// `sparkchat.prune.*` record what was done. See `PrunedStorage` for the stored types.
public enum ModelPruner {
    /// One layer's matrices, reported when the last of them is written.
    public struct LayerReport: Sendable {
        public let layer: Int
        public let layerCount: Int
        /// (matrix name without `blk.N.` and `.weight`, fraction of its weights now zero).
        public let matrices: [(name: String, zeroFraction: Double)]
    }

    public struct Summary: Sendable {
        public let path: String
        /// Weights in the layer matrices, and how many of them were zero before and after.
        public let weights: Int
        public let zerosBefore: Int
        public let zerosAfter: Int
        public let fileBytes: Int
    }

    public static let metadataPrefix = "sparkchat.prune."

    /// Prunes the model at `modelPath` (a GGUF file, or a safetensors checkpoint
    /// directory, whose pruned copy is a directory) into `output`, atomically: on an
    /// error or cancellation nothing is left there.
    public static func prune(
        modelPath: String, method: PruneMethod, output: String,
        progress: @escaping (LayerReport) -> Void = { _ in }, isCancelled: () -> Bool = { false }
    ) throws -> Summary {
        let name = URL(fileURLWithPath: modelPath).lastPathComponent
        if ModelCatalog.isSparkifyOverlay(name) {
            throw EngineError.unsupported("\(name) is a sparkify overlay: prune its base model, then fit the overlay on the pruned file")
        }
        guard URL(fileURLWithPath: output).standardizedFileURL.path != URL(fileURLWithPath: modelPath).standardizedFileURL.path else {
            throw EngineError.file("the output would overwrite the model itself: \(output)")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory), isDirectory.boolValue {
            return try CheckpointPruner.prune(directory: modelPath, method: method, output: output, progress: progress, isCancelled: isCancelled)
        }
        return try pruneGGUF(modelPath, method: method, output: output, progress: progress, isCancelled: isCancelled)
    }

    static func pruneGGUF(
        _ modelPath: String, method: PruneMethod, output: String,
        progress: @escaping (LayerReport) -> Void, isCancelled: () -> Bool
    ) throws -> Summary {
        let name = URL(fileURLWithPath: modelPath).lastPathComponent
        let gguf = try GGUFFile(path: modelPath)
        let targets = try gguf.tensorNames.compactMap { n -> PruneTarget? in
            guard let t = gguf.tensors[n], let layer = PrunedStorage.layerIndex(of: t) else { return nil }
            guard ck_supported(t.type) else { throw EngineError.unsupported("tensor type \(t.type.name) of \(GGUFFile.label(n))") }
            _ = try PrunedStorage.storedType(for: t.type)
            let short = t.name.split(separator: ".").dropFirst(2).dropLast().joined(separator: ".")
            return PruneTarget(
                name: n, shortName: short, layer: layer,
                matrix: WeightMatrix(type: t.type, rows: t.rowCount, cols: t.rowLength, data: gguf.pointer(t)))
        }
        guard !targets.isEmpty else {
            throw EngineError.format("\(name) has no transformer layer matrices to prune (blk.N.attn_q/k/v/output, ffn_gate/up/down)")
        }
        var run = try PruneRun(method: method, targets: targets, progress: progress)
        var metadata: [(String, GGUFRewriter.Value)] = [
            (metadataPrefix + "method", .string(method.methodName)),
            (metadataPrefix + "fraction", .float32(Float(method.prunedFraction))),
            (metadataPrefix + "matrices", .string("attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down")),
            (metadataPrefix + "weights", .uint64(UInt64(run.weights))),
            (metadataPrefix + "pruned", .uint64(UInt64(run.prunedCount))),
            (metadataPrefix + "base", .string(name))
        ]
        if case .magnitude(_, let scope) = method { metadata.append((metadataPrefix + "scope", .string(scope.rawValue))) }
        let byName = Dictionary(uniqueKeysWithValues: targets.map { ($0.name, $0) })
        try GGUFRewriter.write(
            source: gguf, to: output, metadata: metadata,
            // Keys of an earlier pruning (a pruned file pruned again) are replaced, not kept.
            dropping: { $0.hasPrefix(metadataPrefix) },
            plan: { t in
                guard let target = byName[t.name] else { return .copy }
                return .replace(type: try PrunedStorage.storedType(for: t.type)) { try run.prune(target) }
            },
            progress: { t in if let target = byName[t.name] { run.written(target) } },
            isCancelled: isCancelled)
        return run.summary(path: output, fileBytes: (try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? Int ?? 0)
    }
}

/// One layer matrix to prune.
struct PruneTarget {
    let name: String
    /// The matrix's name within its layer (`attn_q`, `mlp.up_proj`), for progress lines.
    let shortName: String
    let layer: Int
    let matrix: WeightMatrix
}

/// The selection and the bookkeeping of one pruning, shared by the GGUF and the
/// checkpoint-directory writers: the targets must be pruned in the order given.
struct PruneRun {
    let method: PruneMethod
    let weights: Int
    let prunedCount: Int
    let layerCount: Int
    private var global: MagnitudeSelection?
    private var remaining: [Int: Int] = [:]
    private var done: [Int: [(name: String, zeroFraction: Double)]] = [:]
    private var zerosBefore = 0, zerosAfter = 0
    private let progress: (ModelPruner.LayerReport) -> Void

    static func pruneCount(_ n: Int, _ f: Double) -> Int { min(n, Int((f * Double(n)).rounded())) }

    init(method: PruneMethod, targets: [PruneTarget], progress: @escaping (ModelPruner.LayerReport) -> Void) throws {
        self.method = method
        self.progress = progress
        if case .nOfM(_, let m) = method, let t = targets.first(where: { $0.matrix.cols % m != 0 }) {
            throw EngineError.unsupported("\(GGUFFile.label(t.name)): rows of \(t.matrix.cols) weights do not split into groups of \(m)")
        }
        weights = targets.reduce(0) { $0 + $1.matrix.rows * $1.matrix.cols }
        switch method {
        case .magnitude(let f, .global): prunedCount = Self.pruneCount(weights, f)
        case .magnitude(let f, .layer): prunedCount = targets.reduce(0) { $0 + Self.pruneCount($1.matrix.rows * $1.matrix.cols, f) }
        case .nOfM(let n, let m): prunedCount = weights / m * (m - n)
        }
        // Global scope: one threshold over every layer matrix, visited in the order the
        // targets are then pruned, so ties at the threshold are taken in the same order.
        if case .magnitude(let f, .global) = method {
            global = MagnitudeSelection(k: Self.pruneCount(weights, f)) { visit in
                for t in targets { PrunedStorage.dequantize(t.matrix).withUnsafeBufferPointer { visit($0) } }
            }
        }
        layerCount = (targets.map(\.layer).max() ?? 0) + 1
        for t in targets { remaining[t.layer, default: 0] += 1 }
    }

    /// The target's bytes in its stored type, pruned.
    mutating func prune(_ t: PruneTarget) throws -> [UInt8] {
        let values = PrunedStorage.dequantize(t.matrix)
        let mask: [Bool]
        switch method {
        case .magnitude(let f, .layer):
            var selection = MagnitudeSelection(k: Self.pruneCount(values.count, f)) { visit in values.withUnsafeBufferPointer { visit($0) } }
            mask = values.map { selection.prunes($0) }
        case .magnitude(_, .global):
            mask = values.map { global!.prunes($0) }
        case .nOfM(let n, let m):
            mask = NOfMSelection.mask(values, cols: t.matrix.cols, n: n, m: m)
        }
        zerosBefore += values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        let encoded = try PrunedStorage.encode(t.matrix, name: GGUFFile.label(t.name), values: values, zeroMask: mask)
        zerosAfter += encoded.zeros
        done[t.layer, default: []].append((t.shortName, Double(encoded.zeros) / Double(values.count)))
        return encoded.bytes
    }

    /// Reports a layer once its last matrix is written.
    mutating func written(_ t: PruneTarget) {
        remaining[t.layer]! -= 1
        if remaining[t.layer] == 0 { progress(ModelPruner.LayerReport(layer: t.layer, layerCount: layerCount, matrices: done[t.layer] ?? [])) }
    }

    func summary(path: String, fileBytes: Int) -> ModelPruner.Summary {
        ModelPruner.Summary(path: path, weights: weights, zerosBefore: zerosBefore, zerosAfter: zerosAfter, fileBytes: fileBytes)
    }
}

extension PruneMethod {
    /// The value of `sparkchat.prune.method`: `magnitude` or `N:M`.
    var methodName: String {
        switch self {
        case .magnitude: return "magnitude"
        case .nOfM(let n, let m): return "\(n):\(m)"
        }
    }
}
