import Foundation

/// llama.cpp-compatible perplexity (see `llama-perplexity`): chunks of `ctx` tokens,
/// the first token of each chunk replaced by BOS, the second half of each chunk scored.
public enum Perplexity {
    public struct Result: Sendable {
        public var ppl: Double
        public var chunks: Int
        public var scored: Int
        public var meanFFNActive: Double
        public var tokensPerSecond: Double
    }

    /// The arithmetic of the matrix products: `.quantized` is decode's (int8 activations,
    /// as llama.cpp computes every product, so the figure compares with llama-perplexity's),
    /// `.float32` the reference implementation's (dequantized weights, float activations),
    /// `.perTensorInt8` float products whose inputs are first rounded to static per-tensor
    /// int8 (StaticInt8Quantizer: one scale per linear input, calibrated once; simulated).
    public enum Arithmetic: String, Sendable { case quantized, float32, perTensorInt8 }

    public static func compute(
        model: LoadedModel, text: String, ctx: Int, maxChunks: Int = 0,
        sparsity: SparsityMode = .off, arithmetic: Arithmetic = .float32,
        cushion: [Int] = [], calibration: ActivationProfile? = nil,
        progress: ((Int, Int, Double) -> Void)? = nil
    ) throws -> Result {
        // Static int8: every product in float, its input rounded with the calibrated scales.
        var quantizer: (gemma: GemmaModel, tap: StaticInt8Quantizer)?
        if arithmetic == .perTensorInt8 {
            guard let calibration else { throw EngineError.input("per-tensor int8 activations need a calibration profile") }
            let g = try ActivationProbe.gemma(model, for: "per-tensor int8 activations")
            let sites = ActivationSites(g)
            guard calibration.maxAbs.count == sites.count else { throw EngineError.input("the calibration profile is for another model") }
            quantizer = (g, StaticInt8Quantizer(sites: sites, calibration: calibration))
        }
        // Quantized: every product as decode computes it, attention included (the
        // per-query loop, not the prefill sgemm), so the figure does not depend on which
        // BLAS kernels this CPU gets: int8 rounding turns any change of summation order
        // into ±1% of perplexity.
        let saved = model.model.options
        var options = saved
        options.sgemmMinimumRows = max(1, min(saved.sgemmMinimumRows, ctx))
        switch arithmetic {
        case .quantized: model.model.options = saved.decodeArithmetic
        case .float32: model.model.options = options
        case .perTensorInt8: model.model.options = ActivationProbe.floatOptions(saved)
        }
        defer { model.model.options = saved }
        let tokens = model.tokenizer.encode(text, addBOS: true)
        var nChunks = tokens.count / ctx
        if maxChunks > 0 { nChunks = min(nChunks, maxChunks) }
        guard nChunks > 0 else {
            throw EngineError.input("text has \(tokens.count) tokens; need at least \(ctx) (one chunk of --ctx)")
        }
        let first = ctx / 2
        var nll: Double = 0
        var count = 0
        var activeSum: Double = 0, activeN = 0
        let V = model.config.vocabularySize
        let t0 = Date()
        for c in 0..<nChunks {
            var chunk = Array(tokens[(c * ctx)..<((c + 1) * ctx)])
            chunk[0] = model.tokenizer.bosId
            var stats: [TokenStats] = []
            // Logits of positions first-1 ... ctx-2 predict tokens first ... ctx-1.
            let rows = Array((first - 1)..<(ctx - 1))
            let logits = try scoreChunk(chunk, rows: rows, model: model, cushion: cushion, quantizer: quantizer, sparsity: sparsity, stats: &stats)
            // Added one by one, in order, as a serial loop would.
            for v in negativeLogLikelihoods(logits, targets: rows.map { chunk[$0 + 1] }, vocabulary: V) { nll += v }
            count += rows.count
            for s in stats { activeSum += s.ffnActiveFraction; activeN += 1 }
            progress?(c + 1, nChunks, exp(nll / Double(count)))
        }
        let secs = Date().timeIntervalSince(t0)
        return Result(
            ppl: exp(nll / Double(count)), chunks: nChunks, scored: count,
            meanFFNActive: activeN > 0 ? activeSum / Double(activeN) : 1,
            tokensPerSecond: Double(nChunks * ctx) / max(secs, 1e-9))
    }

    /// −log softmax(row)[target] of each logit row, the rows shared among the compute
    /// pool's threads (a 262k-entry log-sum-exp per scored token was a tenth of the run
    /// when one thread did them all). Each row is summed in the same order as before, and
    /// the caller adds the rows in order, so the figure is bit-for-bit unchanged.
    static func negativeLogLikelihoods(_ logits: [Float], targets: [Int], vocabulary V: Int) -> [Double] {
        var out = [Double](repeating: 0, count: targets.count)
        logits.withUnsafeBufferPointer { lp in
            out.withUnsafeMutableBufferPointer { op in
                let l = lp.baseAddress!, o = op.baseAddress!
                parallelFor(targets.count) { i in
                    let row = l + i * V
                    var m = -Float.infinity
                    for j in 0..<V where row[j] > m { m = row[j] }
                    var s: Double = 0
                    for j in 0..<V { s += exp(Double(row[j] - m)) }
                    o[i] = log(s) - Double(row[targets[i]] - m)
                }
            }
        }
        return out
    }

    /// The logits of `rows` of one chunk (BOS first). With a cushion, the cushion (which
    /// starts with BOS) takes the place of the chunk's BOS in the cache, computed in full
    /// precision and not scored; the quantizer, when given, rounds the text's inputs only.
    static func scoreChunk(
        _ chunk: [Int], rows: [Int], model: LoadedModel, cushion: [Int],
        quantizer: (gemma: GemmaModel, tap: StaticInt8Quantizer)?, sparsity: SparsityMode,
        stats: inout [TokenStats]
    ) throws -> [Float] {
        let prefix = cushion
        let text = cushion.isEmpty ? chunk : Array(chunk.dropFirst())
        let textRows = cushion.isEmpty ? rows : rows.map { $0 - 1 }
        let state = model.model.makeState(capacity: prefix.count + text.count)
        if let q = quantizer {
            q.tap.endPass()
            return try ActivationProbe.run(q.gemma, prefix: prefix, tokens: text, rows: textRows, tap: q.tap, state: state)
        }
        if !prefix.isEmpty { _ = try model.model.forward(prefix, state: state, logitRows: [], sparsity: sparsity, stats: nil) }
        return try model.model.forward(text, state: state, logitRows: textRows, sparsity: sparsity, stats: &stats)
    }
}
