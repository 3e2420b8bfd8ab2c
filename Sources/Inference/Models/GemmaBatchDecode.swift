import Foundation

/// A model that decodes the next token of several independent sequences in one pass:
/// each sequence keeps its own state (KV cache, position), while every weight matrix
/// and the LM head are read once for all of them. Decode is memory-bound, so this is
/// where serving several clients gains throughput (continuous batching).
public protocol BatchDecodingModel: LanguageModel {
    /// Runs `tokens[i]` as the next token of `states[i]` (appending it there) and returns
    /// `tokens.count` rows of logits, in order. `stats`, when given, gets one entry per sequence.
    func decodeBatch(
        _ tokens: [Int], states: [ModelState], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float]
}

extension GemmaModel: BatchDecodingModel {
    func decodeBatch(
        _ tokens: [Int], states: [ModelState], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float] {
        let B = tokens.count
        guard B > 0, states.count == B else { throw EngineError.input("decodeBatch needs one state per token") }
        var caches: [KVCache] = []
        for (t, state) in zip(tokens, states) {
            guard let c = state as? KVCache else { throw EngineError.input("state does not belong to this model") }
            guard t >= 0 && t < config.vocabularySize else {
                throw EngineError.input("token id \(t) is outside the vocabulary (\(config.vocabularySize))")
            }
            guard c.length + 1 <= c.capacity else { throw EngineError.input("context full: \(c.length + 1) tokens exceed \(c.capacity)") }
            guard !caches.contains(where: { $0 === c }) else { throw EngineError.input("decodeBatch got one state twice") }
            caches.append(c)
        }
        let starts = caches.map(\.length)
        // The shared shape sizes the buffers (scores: room for the longest context).
        let all = ChunkShape(config, tokens: B, start: starts.max()!), b = buffers, eps = config.rmsNormEps, c = config
        b.prepare(all)
        let qd = all.queryWidth, kvd = all.kvWidth
        let ffnPath = feedForwardPath(tokens: B, sparsity)
        var tokenStats = [TokenStats](repeating: TokenStats(), count: stats == nil ? 0 : B)
        var timer = SectionTimer()
        TransformerSteps.embed(tokens, weights.embedding, scale: c.embeddingScale, into: b.x)
        for (li, lw) in weights.layers.enumerated() {
            // Projections for all rows at once; positions, cache writes and attention per sequence.
            TransformerSteps.normRows(b.x, lw.attnNorm, into: b.xn, rows: B, eps: eps)
            linear.apply([lw.q, lw.k, lw.v], b.xn, B, [b.q, b.k, b.v])
            timer.lap(.queryKeyValue)
            let local = c.layerKinds[li] == .local
            let qkNorm = lw.qNorm.flatMap { qn in lw.kNorm.map { (q: qn, k: $0) } }
            for (i, cache) in caches.enumerated() {
                let one = ChunkShape(c, tokens: 1, start: starts[i])
                TransformerSteps.positionQueriesAndKeys(
                    q: b.q + i * qd, k: b.k + i * kvd, one, qkNorm: qkNorm, eps: eps,
                    rope: local ? ropeLocal : ropeGlobal, queryScale: c.queryScale)
                TransformerSteps.writeKV(cache, layer: li, keys: b.k + i * kvd, values: b.v + i * kvd, one)
                TransformerSteps.attendPerQuery(
                    queries: b.q + i * qd, into: b.attn + i * qd, cache, layer: li, one,
                    window: c.attentionWindow(layer: li), softcap: c.attentionSoftcap,
                    scores: b.scores, scoresStride: one.keys)
            }
            timer.lap(.attentionScores)
            linear.apply(lw.o, b.attn, B, b.o)
            timer.lap(.attentionOutput)
            TransformerSteps.addResidual(b.o, postNorm: lw.postAttnNorm, to: b.x, all, eps: eps)
            let active = feedForward(li, lw, ffnPath, all, &timer)
            TransformerSteps.addResidual(b.o, postNorm: lw.postFfnNorm, to: b.x, all, eps: eps)
            if stats != nil {
                for i in 0..<B {
                    var row = [tokenStats[i]]
                    recordStats(layer: li, lw, active: [active[i]], ChunkShape(c, tokens: 1, start: starts[i]), into: &row)
                    tokenStats[i] = row[0]
                }
            }
        }
        for cache in caches { cache.advance(by: 1) }
        timer.lap(.normsAndEmbedding)
        let hidden = TransformerSteps.finalNorm(b.x, rows: Array(0..<B), weight: weights.finalNorm, eps: eps)
        if let stats {
            for i in 0..<B {
                var row = [tokenStats[i]]
                row.addHead(vocabularySize: c.vocabularySize, hiddenSize: c.hiddenSize, p0: starts[i], logitRows: [0])
                stats.pointee.append(row[0])
            }
        }
        return logits(hidden: hidden, count: B)
    }
}
