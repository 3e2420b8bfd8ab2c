import CKernels
import Foundation

/// RecurrentGemma (Griffin, De et al. 2024): residual blocks in the pattern
/// (recurrent, recurrent, local attention), each
///
///   x += temporal(norm(x))          temporal = recurrent block or local MQA attention
///   x += mlp(norm(x))               mlp = down(gelu(gate(x)) ⊙ up(x)), with biases
///   logits = softcap(norm(x) · embeddingᵀ, 30)
///
/// Recurrent block:   y = gelu(W_y x + b_y)
///                    u = conv1d_4(W_x x + b_x)            causal, depthwise, width 4
///                    r_t = σ(W_a u_t + b_a),  i_t = σ(W_i u_t + b_i)   (block-diagonal per head)
///                    log a_t = −8 · r_t · softplus(Λ)              (a_t = a^(c·r_t), c = 8)
///                    h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ u_t)    (h_0 = i_0 ⊙ u_0)
///                    out = W_o (h ⊙ y) + b_o
/// Attention: MQA over the last `attention_window_size` positions, RoPE on the first
/// half of each head's dims, queries scaled by head_dim^-0.5, output projection with bias.
/// The embedding is scaled by √hidden rounded to bfloat16 (as transformers does).
final class RecurrentGemmaModel: LanguageModel {
    struct RecurrentWeights {
        var linearX: WeightMatrix, biasX: [Float]
        var linearY: WeightMatrix, biasY: [Float]
        var linearOut: WeightMatrix, biasOut: [Float]
        var convWeight: [Float]  // [lru][width]: tap k multiplies input t − (width−1) + k
        var convBias: [Float]
        /// Gate matrices transposed to [head][out][in] so each output is one dot product.
        var inputGate: [Float], inputGateBias: [Float]
        var recurrentGate: [Float], recurrentGateBias: [Float]
        /// −8 · softplus(Λ): log a_t = r_t · this.
        var logDecay: [Float]
    }

    struct AttentionWeights {
        var q: WeightMatrix, k: WeightMatrix, v: WeightMatrix, o: WeightMatrix
        var qBias: [Float]?, kBias: [Float]?, vBias: [Float]?, oBias: [Float]?
    }

    enum Temporal { case recurrent(RecurrentWeights), attention(AttentionWeights) }

    struct Layer {
        var temporalNorm: [Float], channelNorm: [Float]
        var temporal: Temporal
        var gate: WeightMatrix, gateBias: [Float]
        var up: WeightMatrix, upBias: [Float]
        var down: WeightMatrix, downBias: [Float]
    }

    let config: ModelConfig
    let embedding: WeightMatrix
    let lmHead: WeightMatrix
    let finalNorm: [Float]
    let layers: [Layer]
    private let storage: AnyObject
    /// RoPE on the first `ropeDim` dims of each head.
    private let rope: [RoPEPart]
    private let linear = LinearKernel()
    var options = RuntimeOptions() { didSet { linear.sgemmMinimumRows = options.sgemmMinimumRows } }

    init(config c: ModelConfig, checkpoint ck: SafetensorsCheckpoint) throws {
        config = c
        storage = ck
        let d = c.hiddenSize, lru = c.lruWidth, f = c.intermediateSize, w = c.convWidth
        let qd = c.headCount * c.headDim, kvd = c.kvHeadCount * c.headDim
        let H = c.headCount, bw = lru / H
        func norm(_ n: String) throws -> [Float] { try ck.vector(n, count: d).map { $0 + 1 } }  // HF stores w, not 1 + w
        func optional(_ n: String, _ count: Int) throws -> [Float]? { ck.has(n) ? try ck.vector(n, count: count) : nil }
        // RecurrentGemmaForCausalLM saves under "model."; a bare RecurrentGemmaModel without it.
        let m0 = ck.has("embed_tokens.weight") && !ck.has("model.embed_tokens.weight") ? "" : "model."
        embedding = try ck.matrix(m0 + "embed_tokens.weight", rows: c.vocabularySize, cols: d)
        lmHead = ck.has("lm_head.weight") ? try ck.matrix("lm_head.weight", rows: c.vocabularySize, cols: d) : embedding
        finalNorm = try norm(m0 + "final_norm.weight")
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = m0 + "layers.\(i)."
            let t = p + "temporal_block."
            let temporal: Temporal
            if c.layerKinds[i] == .recurrent {
                // Block-diagonal gates are stored [head][in][out] (x @ W); keep them [head][out][in].
                func gates(_ n: String) throws -> [Float] {
                    let g = try ck.vector(n, count: H * bw * bw)
                    var tr = [Float](repeating: 0, count: g.count)
                    for h in 0..<H { for i in 0..<bw { for o in 0..<bw { tr[h * bw * bw + o * bw + i] = g[h * bw * bw + i * bw + o] } } }
                    return tr
                }
                let param = try ck.vector(t + "rg_lru.recurrent_param", count: lru)
                temporal = .recurrent(
                    RecurrentWeights(
                        linearX: try ck.matrix(t + "linear_x.weight", rows: lru, cols: d), biasX: try ck.vector(t + "linear_x.bias", count: lru),
                        linearY: try ck.matrix(t + "linear_y.weight", rows: lru, cols: d), biasY: try ck.vector(t + "linear_y.bias", count: lru),
                        linearOut: try ck.matrix(t + "linear_out.weight", rows: d, cols: lru),
                        biasOut: try ck.vector(t + "linear_out.bias", count: d),
                        convWeight: try ck.vector(t + "conv_1d.weight", count: lru * w), convBias: try ck.vector(t + "conv_1d.bias", count: lru),
                        inputGate: try gates(t + "rg_lru.input_gate_weight"),
                        inputGateBias: try ck.vector(t + "rg_lru.input_gate_bias", count: lru),
                        recurrentGate: try gates(t + "rg_lru.recurrent_gate_weight"),
                        recurrentGateBias: try ck.vector(t + "rg_lru.recurrent_gate_bias", count: lru),
                        logDecay: param.map { -8 * RecurrentGemmaModel.softplus($0) }))
            } else {
                temporal = .attention(
                    AttentionWeights(
                        q: try ck.matrix(t + "q_proj.weight", rows: qd, cols: d), k: try ck.matrix(t + "k_proj.weight", rows: kvd, cols: d),
                        v: try ck.matrix(t + "v_proj.weight", rows: kvd, cols: d), o: try ck.matrix(t + "o_proj.weight", rows: d, cols: qd),
                        qBias: try optional(t + "q_proj.bias", qd), kBias: try optional(t + "k_proj.bias", kvd),
                        vBias: try optional(t + "v_proj.bias", kvd), oBias: try optional(t + "o_proj.bias", d)))
            }
            let m = p + "mlp_block."
            layers.append(
                Layer(
                    temporalNorm: try norm(p + "temporal_pre_norm.weight"), channelNorm: try norm(p + "channel_pre_norm.weight"),
                    temporal: temporal,
                    gate: try ck.matrix(m + "gate_proj.weight", rows: f, cols: d), gateBias: try ck.vector(m + "gate_proj.bias", count: f),
                    up: try ck.matrix(m + "up_proj.weight", rows: f, cols: d), upBias: try ck.vector(m + "up_proj.bias", count: f),
                    down: try ck.matrix(m + "down_proj.weight", rows: d, cols: f), downBias: try ck.vector(m + "down_proj.bias", count: d)))
        }
        self.layers = layers
        rope = [RoPEPart(dims: c.ropeDim ?? c.headDim, base: c.ropeBaseLocal)]
    }

    var decodeWeightBytes: Int {
        layers.reduce(lmHead.byteCount) { total, l in
            var b = l.gate.byteCount + l.up.byteCount + l.down.byteCount
            switch l.temporal {
            case .recurrent(let w): b += w.linearX.byteCount + w.linearY.byteCount + w.linearOut.byteCount
            case .attention(let w): b += w.q.byteCount + w.k.byteCount + w.v.byteCount + w.o.byteCount
            }
            return total + b
        }
    }

    /// out[t] = rmsNorm(x[t]) · w for T rows.
    static func rmsNormRows(_ x: [Float], _ w: [Float], _ out: inout [Float], _ T: Int, _ eps: Float) {
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { TransformerSteps.normRows(xp.baseAddress!, w, into: $0.baseAddress!, rows: T, eps: eps) }
        }
    }

    static func softplus(_ x: Float) -> Float { x > 20 ? x : log1pf(expf(x)) }
    @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    func makeState(capacity: Int) -> ModelState {
        GriffinState(config: config, capacity: capacity, kvCache: options.kvCache)
    }
    var kvCacheTypes: [KVCacheType] { KVCacheType.allCases }

    func forward(
        _ tokens: [Int], state: ModelState, logitRows: [Int], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float] {
        guard let s = state as? GriffinState else { throw EngineError.input("state does not belong to this model") }
        return try ForwardChunks.run(
            tokens, rows: logitRows, vocabularySize: config.vocabularySize,
            length: s.length, capacity: s.kv.capacity
        ) { chunk, rows in
            forwardChunk(chunk, s, rows, stats)
        }
    }

    /// The equations of the type comment, one chunk of tokens at a time.
    private func forwardChunk(
        _ tokens: [Int], _ state: GriffinState, _ logitRows: [Int],
        _ stats: UnsafeMutablePointer<[TokenStats]>?
    ) -> [Float] {
        let c = config, s = ChunkShape(c, tokens: tokens.count, start: state.length), T = s.tokens, D = c.hiddenSize
        var x = [Float](repeating: 0, count: T * D)
        var xn = [Float](repeating: 0, count: T * D)
        var o = [Float](repeating: 0, count: T * D)
        x.withUnsafeMutableBufferPointer { TransformerSteps.embed(tokens, embedding, scale: c.embeddingScale, into: $0.baseAddress!) }
        var tokenStats = [TokenStats](repeating: TokenStats(), count: stats == nil ? 0 : T)
        for (li, l) in layers.enumerated() {
            RecurrentGemmaModel.rmsNormRows(x, l.temporalNorm, &xn, T, c.rmsNormEps)
            switch l.temporal {
            case .recurrent(let w): recurrentBlock(w, li, xn, T, state, &o)
            case .attention(let w): attentionBlock(w, li, xn, s, state, &o)
            }
            for i in 0..<(T * D) { x[i] += o[i] }
            RecurrentGemmaModel.rmsNormRows(x, l.channelNorm, &xn, T, c.rmsNormEps)
            o = mlp(l, xn, T)
            for i in 0..<(T * D) { x[i] += o[i] }
            if stats != nil { recordStats(l, s, into: &tokenStats) }
        }
        state.kv.advance(by: T)
        // Final norm and the tied, soft-capped LM head for the requested rows.
        let hidden = x.withUnsafeBufferPointer {
            TransformerSteps.finalNorm($0.baseAddress!, rows: logitRows, weight: finalNorm, eps: c.rmsNormEps)
        }
        var logits = apply(lmHead, hidden, logitRows.count, bias: nil)
        if let cap = c.finalSoftcap { for i in 0..<logits.count { logits[i] = Layers.softcap(logits[i], cap) } }
        TransformerSteps.report(tokenStats, to: stats, c, s, logitRows: logitRows)
        return logits
    }

    /// MLP: down(gelu(gate(x) + b) ⊙ (up(x) + b)) + b, width intermediate_size / 2.
    private func mlp(_ l: Layer, _ xn: [Float], _ T: Int) -> [Float] {
        var g = apply(l.gate, xn, T, bias: l.gateBias)
        let u = apply(l.up, xn, T, bias: l.upBias)
        for i in 0..<(T * config.intermediateSize) { g[i] = Layers.geluTanh(g[i]) * u[i] }
        return apply(l.down, g, T, bias: l.downBias)
    }

    /// One layer's per-token statistics (always dense: every neuron is computed).
    private func recordStats(_ l: Layer, _ s: ChunkShape, into stats: inout [TokenStats]) {
        let c = config, D = c.hiddenSize, F = c.intermediateSize
        for t in 0..<s.tokens {
            let attended: Int, temporalFlops: Double
            switch l.temporal {
            case .recurrent(let w):
                attended = 0
                let lru = c.lruWidth, bw = lru / c.headCount
                temporalFlops = Double(
                    2 * (w.linearX.rows * w.linearX.cols * 2 + w.linearOut.rows * w.linearOut.cols)
                        + 2 * 2 * lru * bw + 2 * lru * c.convWidth)
            case .attention(let w):
                attended = TransformerSteps.visibleKeys(s.start + t, window: c.slidingWindow)
                temporalFlops = TransformerSteps.attentionFlops(
                    [w.q, w.k, w.v, w.o], heads: c.headCount, headDim: c.headDim,
                    attended: attended)
            }
            let flops = Double(2 * 3 * D * F) + temporalFlops
            stats[t].addLayer(active: F, of: F, attended: attended, flops: flops, denseFlops: flops)
        }
    }

    /// y = x Wᵀ (+ b) for T rows.
    private func apply(_ w: WeightMatrix, _ x: [Float], _ T: Int, bias: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: T * w.rows)
        guard T > 0 else { return y }
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in linear.apply(w, xp.baseAddress!, T, yp.baseAddress!) }
        }
        if let b = bias { for t in 0..<T { for i in 0..<w.rows { y[t * w.rows + i] += b[i] } } }
        return y
    }

    private func recurrentBlock(_ w: RecurrentWeights, _ li: Int, _ xn: [Float], _ T: Int, _ s: GriffinState, _ out: inout [Float]) {
        let c = config, lru = c.lruWidth, W = c.convWidth, H = c.headCount, bw = lru / H
        var y = apply(w.linearY, xn, T, bias: w.biasY)
        for i in 0..<y.count { y[i] = Layers.geluTanh(y[i]) }
        let xb = apply(w.linearX, xn, T, bias: w.biasX)
        let r = s.recurrentIndex[li]!
        var u = [Float](repeating: 0, count: T * lru)
        var ig = [Float](repeating: 0, count: lru), rg = [Float](repeating: 0, count: lru)
        s.conv[r].withUnsafeMutableBufferPointer { window in  // [lru][W−1], oldest first
            s.h[r].withUnsafeMutableBufferPointer { h in
                for t in 0..<T {
                    // Causal depthwise conv over the window of the last W−1 inputs plus this one.
                    for ch in 0..<lru {
                        var acc = w.convBias[ch] + w.convWeight[ch * W + W - 1] * xb[t * lru + ch]
                        for k in 0..<(W - 1) { acc += w.convWeight[ch * W + k] * window[ch * (W - 1) + k] }
                        for k in 0..<max(0, W - 2) { window[ch * (W - 1) + k] = window[ch * (W - 1) + k + 1] }
                        if W > 1 { window[ch * (W - 1) + W - 2] = xb[t * lru + ch] }
                        u[t * lru + ch] = acc
                    }
                    // RG-LRU gates: block-diagonal (one bw × bw matrix per head).
                    u.withUnsafeBufferPointer { up in
                        let ut = up.baseAddress! + t * lru
                        w.inputGate.withUnsafeBufferPointer { gi in
                            w.recurrentGate.withUnsafeBufferPointer { ga in
                                for hd in 0..<H {
                                    for j in 0..<bw {
                                        let row = hd * bw * bw + j * bw
                                        ig[hd * bw + j] = ck_dot_f32(gi.baseAddress! + row, ut + hd * bw, Int64(bw))
                                        rg[hd * bw + j] = ck_dot_f32(ga.baseAddress! + row, ut + hd * bw, Int64(bw))
                                    }
                                }
                            }
                        }
                    }
                    let first = s.length + t == 0  // transformers resets the recurrence at position 0
                    for ch in 0..<lru {
                        let i = RecurrentGemmaModel.sigmoid(ig[ch] + w.inputGateBias[ch])
                        let rt = RecurrentGemmaModel.sigmoid(rg[ch] + w.recurrentGateBias[ch])
                        let logA = w.logDecay[ch] * rt
                        let gated = u[t * lru + ch] * i
                        if first {
                            h[ch] = gated
                        } else {
                            let a = expf(logA)
                            let mult = (1 - expf(2 * logA)).squareRoot()
                            h[ch] = a * h[ch] + mult * gated
                        }
                        u[t * lru + ch] = h[ch] * y[t * lru + ch]
                    }
                }
            }
        }
        out = apply(w.linearOut, u, T, bias: w.biasOut)
    }

    /// Local MQA attention over the cached window, with biases.
    private func attentionBlock(
        _ w: AttentionWeights, _ li: Int, _ xn: [Float], _ s: ChunkShape, _ state: GriffinState,
        _ out: inout [Float]
    ) {
        let c = config, T = s.tokens
        var q = apply(w.q, xn, T, bias: w.qBias)
        var k = apply(w.k, xn, T, bias: w.kBias)
        let v = apply(w.v, xn, T, bias: w.vBias)
        var attn = [Float](repeating: 0, count: T * s.queryWidth)
        // A query sees at most the window: its scores need no more room than that.
        let stride = min(c.slidingWindow ?? s.keys, s.keys)
        var scores = [Float](repeating: 0, count: T * s.heads * stride)
        q.withUnsafeMutableBufferPointer { qp in
            k.withUnsafeMutableBufferPointer { kp in
                TransformerSteps.positionQueriesAndKeys(
                    q: qp.baseAddress!, k: kp.baseAddress!, s, qkNorm: nil, eps: c.rmsNormEps,
                    rope: rope, queryScale: c.queryScale)
                v.withUnsafeBufferPointer { TransformerSteps.writeKV(state.kv, layer: li, keys: kp.baseAddress!, values: $0.baseAddress!, s) }
            }
            attn.withUnsafeMutableBufferPointer { ap in
                scores.withUnsafeMutableBufferPointer { sp in
                    TransformerSteps.attendPerQuery(
                        queries: qp.baseAddress!, into: ap.baseAddress!, state.kv, layer: li, s,
                        window: c.slidingWindow, softcap: nil, scores: sp.baseAddress!, scoresStride: stride)
                }
            }
        }
        out = apply(w.o, attn, T, bias: w.oBias)
    }
}

/// Griffin's per-sequence state: for each recurrent block the RG-LRU state h (lru floats)
/// and the conv1d window (the last width − 1 inputs); for each attention block a ring of
/// the last `window` keys and values. Its size does not grow with the sequence.
final class GriffinState: ModelState {
    let kv: KVCache
    /// Layer index → index into `h` / `conv`.
    let recurrentIndex: [Int: Int]
    var h: [[Float]]
    var conv: [[Float]]
    var length: Int { kv.length }

    init(config c: ModelConfig, capacity: Int, kvCache: KVCacheType = .f32) {
        // Recurrent layers get a zero-width window: they never reserve cache storage.
        kv = KVCache(
            windows: c.layerKinds.map { $0 == .recurrent ? 0 : c.slidingWindow },
            width: c.kvHeadCount * c.headDim, headDim: c.headDim, capacity: capacity, type: kvCache)
        var idx: [Int: Int] = [:]
        for (i, k) in c.layerKinds.enumerated() where k == .recurrent { idx[i] = idx.count }
        recurrentIndex = idx
        h = Array(repeating: [Float](repeating: 0, count: c.lruWidth), count: idx.count)
        conv = Array(repeating: [Float](repeating: 0, count: c.lruWidth * max(0, c.convWidth - 1)), count: idx.count)
    }

    /// A recurrence cannot be rewound: only a no-op truncation succeeds.
    func truncate(to n: Int) -> Bool { n == length }

    var recurrentByteCount: Int { (h.reduce(0) { $0 + $1.count } + conv.reduce(0) { $0 + $1.count }) * 4 }
    var byteCount: Int { kv.byteCount + recurrentByteCount }

    /// The recurrent state of layer `layer` (h, and the conv window channel-major [lru][width−1]).
    func recurrent(_ layer: Int) -> (h: [Float], conv: [Float])? {
        recurrentIndex[layer].map { (h[$0], conv[$0]) }
    }
}
