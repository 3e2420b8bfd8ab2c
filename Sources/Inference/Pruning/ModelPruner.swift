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

    /// Prunes the GGUF model at `modelPath` into `output` (atomically; on error or
    /// cancellation nothing is left there).
    public static func prune(
        modelPath: String, method: PruneMethod, output: String,
        progress: (LayerReport) -> Void = { _ in }, isCancelled: () -> Bool = { false }
    ) throws -> Summary {
        let name = URL(fileURLWithPath: modelPath).lastPathComponent
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory), isDirectory.boolValue {
            throw EngineError.unsupported("prune reads GGUF files; \(name) is a checkpoint directory (convert it to GGUF first)")
        }
        if ModelCatalog.isSparkifyOverlay(name) {
            throw EngineError.unsupported("\(name) is a sparkify overlay: prune its base model, then fit the overlay on the pruned file")
        }
        guard URL(fileURLWithPath: output).standardizedFileURL.path != URL(fileURLWithPath: modelPath).standardizedFileURL.path else {
            throw EngineError.file("the output would overwrite the model itself: \(output)")
        }
        let gguf = try GGUFFile(path: modelPath)
        let targets = try gguf.tensorNames.compactMap { n -> (GGUFTensorInfo, Int)? in
            guard let t = gguf.tensors[n], let layer = PrunedStorage.layerIndex(of: t) else { return nil }
            guard ck_supported(t.type) else { throw EngineError.unsupported("tensor type \(t.type.name) of \(GGUFFile.label(n))") }
            _ = try PrunedStorage.storedType(for: t.type)
            if case .nOfM(_, let m) = method, t.rowLength % m != 0 {
                throw EngineError.unsupported("\(GGUFFile.label(n)): rows of \(t.rowLength) weights do not split into groups of \(m)")
            }
            return (t, layer)
        }
        guard !targets.isEmpty else {
            throw EngineError.format("\(name) has no transformer layer matrices to prune (blk.N.attn_q/k/v/output, ffn_gate/up/down)")
        }
        func matrix(_ t: GGUFTensorInfo) -> WeightMatrix {
            WeightMatrix(type: t.type, rows: t.rowCount, cols: t.rowLength, data: gguf.pointer(t))
        }
        func pruneCount(_ n: Int, _ f: Double) -> Int { min(n, Int((f * Double(n)).rounded())) }

        let weights = targets.reduce(0) { $0 + $1.0.elementCount }
        // Global scope: one threshold over every layer matrix, in file order (the order
        // the tensors are then written in, so ties are taken in the same order).
        var global: MagnitudeSelection?
        if case .magnitude(let f, .global) = method {
            global = MagnitudeSelection(k: pruneCount(weights, f)) { visit in
                for (t, _) in targets {
                    let values = PrunedStorage.dequantize(matrix(t))
                    values.withUnsafeBufferPointer { visit($0) }
                }
            }
        }
        let prunedCount: Int
        switch method {
        case .magnitude(let f, .global): prunedCount = pruneCount(weights, f)
        case .magnitude(let f, .layer): prunedCount = targets.reduce(0) { $0 + pruneCount($1.0.elementCount, f) }
        case .nOfM(let n, let m): prunedCount = weights / m * (m - n)
        }

        let layerCount = (targets.map(\.1).max() ?? 0) + 1
        var remaining = [Int: Int]()
        for (_, l) in targets { remaining[l, default: 0] += 1 }
        var done = [Int: [(name: String, zeroFraction: Double)]]()
        var zerosBefore = 0, zerosAfter = 0
        let layerOf = Dictionary(uniqueKeysWithValues: targets.map { ($0.0.name, $0.1) })

        var metadata: [(String, GGUFRewriter.Value)] = [
            (metadataPrefix + "method", .string(method.methodName)),
            (metadataPrefix + "fraction", .float32(Float(method.prunedFraction))),
            (metadataPrefix + "matrices", .string("attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down")),
            (metadataPrefix + "weights", .uint64(UInt64(weights))),
            (metadataPrefix + "pruned", .uint64(UInt64(prunedCount))),
            (metadataPrefix + "base", .string(name))
        ]
        if case .magnitude(_, let scope) = method { metadata.append((metadataPrefix + "scope", .string(scope.rawValue))) }
        try GGUFRewriter.write(
            source: gguf, to: output, metadata: metadata,
            // Keys of an earlier pruning (a pruned file pruned again) are replaced, not kept.
            dropping: { $0.hasPrefix(metadataPrefix) },
            plan: { t in
                guard layerOf[t.name] != nil else { return .copy }
                return .replace(type: try PrunedStorage.storedType(for: t.type)) {
                    let m = matrix(t)
                    let values = PrunedStorage.dequantize(m)
                    let mask: [Bool]
                    switch method {
                    case .magnitude(let f, .layer):
                        var selection = MagnitudeSelection(k: pruneCount(values.count, f)) { visit in values.withUnsafeBufferPointer { visit($0) } }
                        mask = values.map { selection.prunes($0) }
                    case .magnitude(_, .global):
                        mask = values.map { global!.prunes($0) }
                    case .nOfM(let n, let mm):
                        mask = NOfMSelection.mask(values, cols: m.cols, n: n, m: mm)
                    }
                    zerosBefore += values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
                    let encoded = try PrunedStorage.encode(m, name: GGUFFile.label(t.name), values: values, zeroMask: mask)
                    zerosAfter += encoded.zeros
                    let short = t.name.split(separator: ".").dropFirst(2).dropLast().joined(separator: ".")
                    done[layerOf[t.name]!, default: []].append((short, Double(encoded.zeros) / Double(values.count)))
                    return encoded.bytes
                }
            },
            progress: { t in
                guard let l = layerOf[t.name] else { return }
                remaining[l]! -= 1
                if remaining[l] == 0 { progress(LayerReport(layer: l, layerCount: layerCount, matrices: done[l] ?? [])) }
            },
            isCancelled: isCancelled)
        let size = (try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? Int ?? 0
        return Summary(path: output, weights: weights, zerosBefore: zerosBefore, zerosAfter: zerosAfter, fileBytes: size)
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
