import Foundation

/// A "sparkified" model file: a safetensors overlay that makes a dense Gemma checkpoint's
/// FFN activation-sparse without retraining (docs/spark-checkpoint.md, "Sparkified
/// overlay"; made by scripts/sparkify). It holds only the new tensors; the base
/// checkpoint (a GGUF file or a checkpoint directory) is named in its metadata,
/// relative to the overlay's directory, and loaded as usual.
///
///   __metadata__: format = "sparkchat-sparkify", version = "1" to "4", base, base_bytes,
///                 fraction, rank, calibration_tokens,
///                 score_weight = "exact-up" (version 3 only; absent: σ weights the score),
///                 dropped_map = "refitted" (M fitted by least squares, not down·diag(γ)·up),
///                 compensation_rank = r (version 4 only, with rank 0 and exact-up)
///   layers.{i}.predictor_b   [r, d]   ĝ = A (B x): the low-rank gate predictor
///   layers.{i}.predictor_a   [F, r]   (both absent at rank 0: the exact gate selects)
///   layers.{i}.idle_activation [F]    γ: the constant a dropped neuron's GELU is replaced by
///   layers.{i}.up_scale      [F]      σ: rms of the neuron's up output on calibration text
///   layers.{i}.threshold_z   [1]      θ = mean(s) + std(s)·z over s = |gelu(ĝ) − γ| ⊙ σ
///   layers.{i}.dropped_map   [d, d]   M = down · diag(γ) · up: the dropped neurons' sum
///   layers.{i}.down          [d, F]   version 2 and up, optional: the distilled down projection
///                                     (SparkifyDistill) that replaces the base's
///   layers.{i}.compensation_a [d, r]  version 4: the dropped neurons' compensation A B h,
///   layers.{i}.compensation_b [r, F]  h = (gelu(g) − γ)u on the dropped neurons (DroppedCompensation)
/// With score_weight "exact-up" the token's exact |u| (the whole up projection, read for
/// the selection) weights the score in place of σ; up_scale is then unused.
/// Version 1 files (the reference's) still load; a version 1 file with a down tensor does
/// not, nor a version 1 or 2 file that names a score weight, nor a version 1 to 3 file that
/// names a compensation (an older build refuses a version 4 file instead of silently
/// running it without its compensation).
struct SparkifyOverlay {
    struct Layer {
        /// Absent at rank 0: the selection then reads the exact gate.
        let predictorA: WeightMatrix?
        let predictorB: WeightMatrix?
        let droppedMap: WeightMatrix
        /// The distilled down projection (D × F); nil: the base model's.
        let down: WeightMatrix?
        /// A (D × r) and B (r × F) of the dropped neurons' compensation; nil: none.
        let compensation: (a: WeightMatrix, b: WeightMatrix)?
        let idleActivation: [Float]
        let upScale: [Float]
        let thresholdZ: Float
    }

    let file: SafetensorsFile
    let path: String
    /// The base checkpoint's path, resolved against the overlay's directory.
    let basePath: String
    /// A checkpoint directory (else a GGUF file).
    let baseIsDirectory: Bool
    let fraction: Double
    let rank: Int
    /// The token's exact |u| weights the score (else the typical σ).
    let exactUp: Bool
    /// The dropped maps were refitted (metadata dropped_map): M ≠ down·diag(γ)·up.
    let droppedMapRefitted: Bool
    /// The rank of the dropped neurons' compensation; 0: none.
    let compensationRank: Int
    let version: Int
    static let versions = 1...4

    /// Overlay files are recognised by name: `<anything>.sparkify<anything>.safetensors`.
    static func isOverlayName(_ name: String) -> Bool {
        name.hasSuffix(".safetensors") && name.contains(".sparkify")
    }

    init(path: String) throws {
        self.path = path
        file = try SafetensorsFile(path: path)
        let name = URL(fileURLWithPath: path).lastPathComponent
        func bad(_ s: String) -> EngineError { .format("\(name): \(s)") }
        let m = file.metadata
        guard m["format"] == "sparkchat-sparkify" else { throw bad("not a sparkify overlay (metadata format is \(m["format"] ?? "missing"))") }
        guard let v = m["version"].flatMap(Int.init), Self.versions.contains(v) else {
            throw EngineError.unsupported("\(name): sparkify overlay version \(m["version"] ?? "?") (this build reads 1 to 4)")
        }
        version = v
        if v < 2, let t = file.tensors.keys.first(where: { $0.hasSuffix(".down") }) {
            throw bad("version 1 overlay holds \(t), which only version 2 may")
        }
        guard let base = m["base"], !base.isEmpty, !base.hasPrefix("/"), !base.contains("\0") else {
            throw bad("metadata base must name the base checkpoint relative to the overlay's directory")
        }
        guard let f = m["fraction"].flatMap(Double.init), f > 0, f <= 1 else { throw bad("metadata fraction must be in (0, 1]") }
        guard let r = m["rank"].flatMap(Int.init), r >= 0 else { throw bad("metadata rank must be a non-negative integer") }
        fraction = f
        rank = r
        switch m["score_weight"] {
        case nil: exactUp = false
        case "exact-up" where v >= 3: exactUp = true
        case "exact-up": throw bad("version \(v) overlay names a score weight, which only version 3 may")
        case let w?: throw bad("unknown score_weight \(w) (this build knows exact-up)")
        }
        switch m["dropped_map"] {
        case nil: droppedMapRefitted = false
        case "refitted": droppedMapRefitted = true
        case let v?: throw bad("unknown dropped_map \(v) (this build knows refitted)")
        }
        switch m["compensation_rank"] {
        case nil: compensationRank = 0
        case let c?:
            guard v >= 4 else { throw bad("version \(v) overlay names a compensation, which only version 4 may") }
            guard let cr = Int(c), cr > 0 else { throw bad("metadata compensation_rank must be a positive integer") }
            guard r == 0, exactUp else { throw bad("a compensation needs rank 0 and the exact-up score") }
            compensationRank = cr
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        basePath = dir.appendingPathComponent(base).standardizedFileURL.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: basePath, isDirectory: &isDir) else {
            throw EngineError.file("\(name): its base model \(base) is not in \(dir.path)")
        }
        baseIsDirectory = isDir.boolValue
        if !isDir.boolValue, let expected = m["base_bytes"].flatMap(Int.init),
            let size = (try? FileManager.default.attributesOfItem(atPath: basePath))?[.size] as? Int, size != expected
        {
            throw bad("was fitted for a \(expected)-byte \(base), but that file has \(size) bytes")
        }
    }

    /// The catalog entry of the overlay: its base's, under the overlay's name, with the
    /// overlay's tensors and bytes added.
    func describe(base: ModelInfo) -> ModelInfo {
        var info = base
        info.name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        info.path = path
        info.architecture += "+sparkify"
        info.sparsity = ModelSparsity.sparkify(fraction: fraction)
        info.parameterCount += file.tensors.values.reduce(0) { $0 + $1.elementCount }
        info.fileSize += file.file.count
        return info
    }

    /// The per-layer tensors, checked against the base model's shapes.
    func layers(for config: ModelConfig) throws -> [Layer] {
        let D = config.hiddenSize, F = config.intermediateSize, r = rank, cr = compensationRank
        guard r <= D else { throw EngineError.format("sparkify overlay rank \(r) exceeds the hidden size \(D)") }
        guard cr <= min(D, F) else { throw EngineError.format("sparkify overlay compensation rank \(cr) exceeds \(min(D, F))") }
        return try (0..<config.layerCount).map { li in
            func matrix(_ n: String, _ rows: Int, _ cols: Int) throws -> WeightMatrix {
                let t = try tensor("layers.\(li).\(n)", [rows, cols])
                guard let type = t.dtype.ggmlType, type == .f32 || type == .f16 else {
                    throw EngineError.unsupported("dtype \(t.dtype.rawValue) of overlay tensor layers.\(li).\(n) (F32, F16)")
                }
                return WeightMatrix(type: type, rows: rows, cols: cols, data: file.pointer(t))
            }
            func vector(_ n: String, _ count: Int) throws -> [Float] {
                let t = try tensor("layers.\(li).\(n)", nil)
                guard t.elementCount == count, let type = t.dtype.ggmlType, type == .f32 || type == .f16 else {
                    throw EngineError.format("overlay tensor layers.\(li).\(n) must hold \(count) F32/F16 values, has shape \(t.shape) \(t.dtype.rawValue)")
                }
                var out = [Float](repeating: 0, count: count)
                out.withUnsafeMutableBufferPointer {
                    WeightMatrix(type: type, rows: 1, cols: count, data: file.pointer(t)).row(0, into: $0.baseAddress!)
                }
                guard out.allSatisfy(\.isFinite) else { throw EngineError.format("overlay tensor layers.\(li).\(n) has non-finite values") }
                return out
            }
            return Layer(
                predictorA: r > 0 ? try matrix("predictor_a", F, r) : nil,
                predictorB: r > 0 ? try matrix("predictor_b", r, D) : nil,
                droppedMap: try matrix("dropped_map", D, D),
                down: file.tensors["layers.\(li).down"] == nil ? nil : try matrix("down", D, F),
                compensation: cr == 0 ? nil : (try matrix("compensation_a", D, cr), try matrix("compensation_b", cr, F)),
                idleActivation: try vector("idle_activation", F), upScale: try vector("up_scale", F),
                thresholdZ: try vector("threshold_z", 1)[0])
        }
    }

    private func tensor(_ name: String, _ shape: [Int]?) throws -> SafetensorsTensorInfo {
        guard let t = file.tensors[name] else { throw EngineError.format("sparkify overlay lacks tensor \(name)") }
        if let shape, t.shape != shape {
            throw EngineError.format("overlay tensor \(name) has shape \(t.shape), expected \(shape) from the base model")
        }
        return t
    }
}
