import Foundation

/// Fits a sparkify overlay for a dense Gemma model and writes it (docs/spark-checkpoint.md,
/// "Fitting in Swift"): the dense model runs the calibration chunks once while a tap on
/// its FFN (GemmaModel.ffnInputObserver) keeps every layer's pre-FFN-normed inputs, then
/// SparkifyFit fits each layer from those inputs and the layer's dequantized weights.
public enum SparkifyFitter {
    public struct Progress: Sendable {
        public let done: Int, total: Int
        public let stage: String
    }

    /// Thrown when `isCancelled` turned true: nothing was written.
    public struct Cancelled: Error, CustomStringConvertible {
        public var description: String { "sparkify fit interrupted; no overlay written" }
    }

    /// What the dropped map is refitted towards (DroppedMapRefit), on the sparse model's inputs.
    public enum RefitTarget: String, Sendable {
        /// The dense FFN applied to the input the sparse model gives the layer.
        case layer
        /// The dense model's FFN output at the same position (also undoes upstream drift).
        case model
    }

    /// The fitted layers: the reference fit on the dense model's FFN inputs, then
    /// `refitPasses` passes that run the calibration through the sparse model fitted so
    /// far and refit each layer's dropped map by least squares (0: the reference fit
    /// alone). With `distillRidge`, then each layer in order is distilled (SparkifyDistill)
    /// on the inputs the sparse model, its earlier layers already distilled, gives it.
    /// `isCancelled` is polled between calibration chunks and layers.
    public static func fit(
        _ loaded: LoadedModel, chunks: [[Int]], fraction: Double, rank: Int, exactUp: Bool = false,
        refitPasses: Int = 0, refitTarget: RefitTarget = .layer, ridge: Double = 1e-2,
        distillRidge: Double? = nil, compensationRank: Int = 0,
        progress: (Progress) -> Void = { _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> [SparkifyLayerFit] {
        guard let gemma = loaded.model as? GemmaModel else {
            throw EngineError.unsupported("sparkify fits dense Gemma 1/2/3 models, not \(loaded.info.architecture)")
        }
        guard gemma.sparkified == nil else { throw EngineError.input("\(loaded.info.name) is already sparkified; fit its base model") }
        guard fraction > 0, fraction < 1 else { throw EngineError.input("fraction must be in (0, 1)") }
        let c = gemma.config, d = c.hiddenSize, F = c.intermediateSize
        guard rank >= 0, rank < d else { throw EngineError.input("rank must be in 0..<\(d) (the hidden size)") }
        guard refitPasses >= 0 else { throw EngineError.input("refit passes must be >= 0") }
        if let r = distillRidge, !(r > 0) { throw EngineError.input("distillation ridge must be > 0") }
        if compensationRank > 0 {
            guard rank == 0, exactUp else { throw EngineError.input("the dropped-neuron compensation needs rank 0 and the exact-up score") }
            guard compensationRank <= min(d, F) else { throw EngineError.input("compensation rank must be in 1...\(min(d, F))") }
            // The refit and the distillation change M and down after the compensation was
            // fitted to them; the two have not been made to work together.
            guard refitPasses == 0, distillRidge == nil else {
                throw EngineError.input("the dropped-neuron compensation does not combine with the refit or the distillation")
            }
        }
        let passSteps = chunks.count + c.layerCount
        let total = passSteps * (1 + refitPasses) + (distillRidge == nil ? 0 : c.layerCount * (chunks.count + 1))
        var step = 0
        func advance(_ stage: String) throws {
            if isCancelled() { throw Cancelled() }
            progress(Progress(done: step, total: total, stage: stage))
            step += 1
        }
        let N = chunks.reduce(0) { $0 + $1.count }
        /// Every layer's FFN inputs over the calibration chunks, run by the model as it is
        /// now; with `only`, that layer's alone (and the forward stops there).
        func collectInputs(_ label: String, only: Int? = nil) throws -> [[Float]] {
            var inputs = [[Float]](repeating: [], count: c.layerCount)
            for i in inputs.indices where only == nil || only == i { inputs[i].reserveCapacity(N * d) }
            gemma.ffnInputObserver = { layer, rows, count in
                guard only == nil || only == layer else { return }
                inputs[layer].append(contentsOf: UnsafeBufferPointer(start: rows, count: count * d))
            }
            gemma.lastLayerRun = only
            defer { gemma.ffnInputObserver = nil; gemma.lastLayerRun = nil }
            for (i, chunk) in chunks.enumerated() {
                try advance("\(label)calibration chunk \(i + 1)/\(chunks.count)")
                // Each chunk on its own, as the reference runs them: no context between chunks.
                _ = try gemma.forward(
                    chunk, state: gemma.makeState(capacity: chunk.count), logitRows: [chunk.count - 1],
                    sparsity: .off, stats: nil)
            }
            return inputs
        }
        var inputs = try collectInputs("")
        var fits: [SparkifyLayerFit] = []
        var denseOutputs = [[Float]](repeating: [], count: refitPasses > 0 && refitTarget == .model ? c.layerCount : 0)
        for (li, lw) in gemma.weights.layers.enumerated() {
            try advance("layer \(li + 1)/\(c.layerCount)")
            let (wg, wu, wd) = (dequantize(lw.gate), dequantize(lw.up), dequantize(lw.down))
            fits.append(
                try SparkifyFit.fitLayer(
                    x: inputs[li], samples: N, gate: wg, up: wu, down: wd, hidden: d, width: F,
                    fraction: fraction, rank: rank, exactUp: exactUp, compensationRank: compensationRank))
            if !denseOutputs.isEmpty {
                denseOutputs[li] = DroppedMapRefit.denseOutput(x: inputs[li], samples: N, gate: wg, up: wu, down: wd, hidden: d, width: F)
            }
            inputs[li] = []
        }
        for pass in 0..<refitPasses {
            let label = refitPasses > 1 ? "refit \(pass + 1)/\(refitPasses): " : "refit: "
            try withSparseFFN(fits, loaded: loaded, gemma: gemma, rank: rank) { inputs = try collectInputs(label) }
            for (li, lw) in gemma.weights.layers.enumerated() {
                try advance("\(label)layer \(li + 1)/\(c.layerCount)")
                let (wg, wu, wd) = (dequantize(lw.gate), dequantize(lw.up), dequantize(lw.down))
                let target =
                    refitTarget == .model
                    ? denseOutputs[li]
                    : DroppedMapRefit.denseOutput(x: inputs[li], samples: N, gate: wg, up: wu, down: wd, hidden: d, width: F)
                fits[li].droppedMap = try DroppedMapRefit.refit(
                    x: inputs[li], target: target, samples: N, gate: wg, up: wu,
                    down: wd, hidden: d, width: F, fit: fits[li], ridge: ridge)
                fits[li].droppedMapRefitted = true
                inputs[li] = []
            }
        }
        if let distillRidge {
            for (li, lw) in gemma.weights.layers.enumerated() {
                let label = "distill layer \(li + 1)/\(c.layerCount): "
                try withSparseFFN(fits, loaded: loaded, gemma: gemma, rank: rank) { inputs = try collectInputs(label, only: li) }
                try advance("\(label)least squares")
                let distilled = try SparkifyDistill.distill(
                    x: inputs[li], samples: N, gate: dequantize(lw.gate), up: dequantize(lw.up), down: dequantize(lw.down),
                    hidden: d, width: F, fit: fits[li], ridge: distillRidge)
                fits[li].down = distilled.down
                fits[li].droppedMap = distilled.droppedMap
                fits[li].droppedMapRefitted = true
                inputs[li] = []
            }
        }
        progress(Progress(done: total, total: total, stage: "done"))
        return fits
    }

    /// Runs `body` with the model's FFN sparkified by `fits` exactly as a loaded overlay
    /// would be (written to a temporary file and read back: the engine's own quantization
    /// and selection), then restores the dense FFN.
    static func withSparseFFN(
        _ fits: [SparkifyLayerFit], loaded: LoadedModel, gemma: GemmaModel, rank: Int,
        _ body: () throws -> Void
    ) throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("sparkchat-refit-\(getpid())-\(UUID().uuidString).sparkify.safetensors").path
        defer { unlink(path) }
        try write(fits, to: path, basePath: loaded.info.path, fraction: 0.5, rank: rank, calibrationTokens: 0)
        let blockQuantized = ![GGMLType.f32, .f16, .bf16].contains(gemma.weights.layers.first?.gate.type ?? .f32)
        gemma.sparkified = try SparkifiedFFN(
            overlay: SparkifyOverlay(path: path), config: gemma.config,
            downs: gemma.weights.layers.map(\.down), quantize: blockQuantized)
        gemma.sparkified?.batchedSelection = true
        defer { gemma.sparkified = nil }
        try body()
    }

    static func dequantize(_ w: WeightMatrix) -> [Float] {
        var out = [Float](repeating: 0, count: w.rows * w.cols)
        out.withUnsafeMutableBufferPointer { p in
            for r in 0..<w.rows { w.row(r, into: p.baseAddress! + r * w.cols) }
        }
        return out
    }

    /// `<base stem>.sparkify-f<F>.safetensors` for the default fit (exact gate, exact-up
    /// score); `-r<R>` marks a gate predictor of rank R, `-typical` the σ-weighted score,
    /// `-c<R>` a dropped-neuron compensation of rank R (so it does not replace the plain fit).
    public static func overlayName(baseFile: String, fraction: Double, rank: Int, exactUp: Bool, compensationRank: Int = 0) -> String {
        let stem = URL(fileURLWithPath: baseFile).deletingPathExtension().lastPathComponent
        let marks = (rank > 0 ? "-r\(rank)" : "") + (exactUp ? "" : "-typical") + (compensationRank > 0 ? "-c\(compensationRank)" : "")
        return "\(stem).sparkify-f\(String(format: "%g", fraction))\(marks).safetensors"
    }

    /// `target` relative to the directory `from` (the overlay names its base that way, so
    /// the pair can move together): "model.gguf" beside it, "../models/model.gguf" elsewhere.
    static func relativePath(of target: String, from directory: String) -> String {
        // Directories are resolved (so /tmp and /private/tmp compare equal); the target's own
        // name is kept, so a base that is a link stays named by the link.
        let targetURL = URL(fileURLWithPath: target).standardizedFileURL
        let t = targetURL.deletingLastPathComponent().resolvingSymlinksInPath().pathComponents + [targetURL.lastPathComponent]
        let d = URL(fileURLWithPath: directory).standardizedFileURL.resolvingSymlinksInPath().pathComponents
        var common = 0
        while common < min(t.count - 1, d.count), t[common] == d[common] { common += 1 }
        return (Array(repeating: "..", count: d.count - common) + t[common...]).joined(separator: "/")
    }

    /// Where the overlay is written before it is renamed into place.
    public static func temporaryPath(for path: String) -> String { path + ".tmp-\(getpid())" }

    /// Writes the overlay atomically: a temporary file beside `path`, synced, renamed.
    /// On any error or cancellation the temporary file is removed and `path` is untouched.
    public static func write(
        _ fits: [SparkifyLayerFit], to path: String, basePath: String, fraction: Double,
        rank: Int, calibrationTokens: Int, isCancelled: () -> Bool = { false }
    ) throws {
        let base = relativePath(of: basePath, from: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let exactUp = fits.contains { $0.exactUp }
        // The oldest version that holds what the fit made, so older builds read what they can.
        let compensationRank = fits.first?.compensationRank ?? 0
        let version = compensationRank > 0 ? "4" : exactUp ? "3" : fits.contains { $0.down != nil } ? "2" : "1"
        var meta = [
            "format": "sparkchat-sparkify", "version": version, "base": base,
            "fraction": "\(fraction)",
            "rank": "\(rank)", "calibration_tokens": "\(calibrationTokens)"
        ]
        if exactUp { meta["score_weight"] = "exact-up" }
        if compensationRank > 0 { meta["compensation_rank"] = "\(compensationRank)" }
        if fits.contains(where: { $0.droppedMapRefitted }) { meta["dropped_map"] = "refitted" }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: basePath, isDirectory: &isDir), !isDir.boolValue,
            let size = (try? FileManager.default.attributesOfItem(atPath: basePath))?[.size] as? Int
        {
            meta["base_bytes"] = "\(size)"
        }
        var tensors: [(String, [Int], [Float])] = []
        for (li, f) in fits.enumerated() {
            let F = f.idleActivation.count, d = Int(Double(f.droppedMap.count).squareRoot())
            if let a = f.predictorA, let b = f.predictorB {
                tensors.append(("layers.\(li).predictor_a", [F, rank], a))
                tensors.append(("layers.\(li).predictor_b", [rank, d], b))
            }
            tensors += [
                ("layers.\(li).idle_activation", [F], f.idleActivation), ("layers.\(li).up_scale", [F], f.upScale),
                ("layers.\(li).threshold_z", [1], [f.thresholdZ]), ("layers.\(li).dropped_map", [d, d], f.droppedMap)
            ]
            if let down = f.down { tensors.append(("layers.\(li).down", [d, F], down)) }
            if let c = f.compensation {
                tensors.append(("layers.\(li).compensation_a", [d, f.compensationRank], c.a))
                tensors.append(("layers.\(li).compensation_b", [f.compensationRank, F], c.b))
            }
        }
        try SafetensorsWriter.writeAtomically(
            tensors, metadata: meta, to: path, temporary: temporaryPath(for: path),
            isCancelled: isCancelled)
    }
}
