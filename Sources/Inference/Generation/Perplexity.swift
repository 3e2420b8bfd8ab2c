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
    /// `.float32` the reference implementation's (dequantized weights, float activations).
    public enum Arithmetic: String, Sendable { case quantized, float32 }

    public static func compute(
        model: LoadedModel, text: String, ctx: Int, maxChunks: Int = 0,
        sparsity: SparsityMode = .off, arithmetic: Arithmetic = .float32,
        progress: ((Int, Int, Double) -> Void)? = nil
    ) throws -> Result {
        // Quantized: every product as decode computes it, attention included (the
        // per-query loop, not the prefill sgemm), so the figure does not depend on which
        // BLAS kernels this CPU gets: int8 rounding turns any change of summation order
        // into ±1% of perplexity.
        let saved = model.model.options
        var options = saved
        options.sgemmMinimumRows = max(1, min(saved.sgemmMinimumRows, ctx))
        model.model.options = arithmetic == .quantized ? saved.decodeArithmetic : options
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
            let state = model.model.makeState(capacity: ctx)
            var stats: [TokenStats] = []
            // Logits of positions first-1 ... ctx-2 predict tokens first ... ctx-1.
            let rows = Array((first - 1)..<(ctx - 1))
            let logits = try model.model.forward(chunk, state: state, logitRows: rows, sparsity: sparsity, stats: &stats)
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
}
