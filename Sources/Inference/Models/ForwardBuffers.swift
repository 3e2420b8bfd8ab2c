/// Activations of one forward chunk of a transformer, grown on demand and reused
/// across calls so the token loop never allocates. Rows are tokens.
final class ForwardBuffers {
    private var storage: [ScratchBuffer] = (0..<10).map { _ in ScratchBuffer() }
    private static let empty = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// x: the residual stream (T × D); xn: its normed copy; q, k, v: projections;
    /// attn: attention output before o_proj; o: a sub-layer's output (T × D);
    /// gate, up: FFN pre-activations (T × F); scores: attention weights per (token, head).
    private(set) var x = empty, xn = empty, q = empty, k = empty, v = empty, attn = empty
    private(set) var o = empty, gate = empty, up = empty, scores = empty

    func prepare(_ s: ChunkShape) {
        x = storage[0].floats(s.tokens * s.hidden)
        xn = storage[1].floats(s.tokens * max(s.hidden, 1))
        q = storage[2].floats(s.tokens * s.queryWidth)
        k = storage[3].floats(s.tokens * s.kvWidth)
        v = storage[4].floats(s.tokens * s.kvWidth)
        attn = storage[5].floats(s.tokens * s.queryWidth)
        o = storage[6].floats(s.tokens * s.hidden)
        gate = storage[7].floats(s.tokens * s.ffn)
        up = storage[8].floats(s.tokens * s.ffn)
        scores = storage[9].floats(s.tokens * s.heads * s.keys)
    }
}

/// The sizes of one forward chunk: `tokens` (T) new tokens at positions
/// `start ..< start + tokens` (p0 …), of a model with hidden width D, FFN width F and
/// H query heads sharing KV heads of `headDim` dims.
struct ChunkShape {
    let tokens: Int, start: Int
    let hidden: Int, ffn: Int
    let heads: Int, kvHeads: Int, headDim: Int

    init(_ c: ModelConfig, tokens: Int, start: Int) {
        self.tokens = tokens; self.start = start
        hidden = c.hiddenSize; ffn = c.intermediateSize
        heads = c.headCount; kvHeads = c.kvHeadCount; headDim = c.headDim
    }

    var queryWidth: Int { heads * headDim }
    var kvWidth: Int { kvHeads * headDim }
    /// Positions the chunk's last token can see: the cache after the chunk.
    var keys: Int { start + tokens }
    /// Query heads per KV head (grouped-query attention).
    var group: Int { heads / kvHeads }
}
