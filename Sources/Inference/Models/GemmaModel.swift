import CKernels
import COpenBLAS
import Foundation

/// Gemma 1, 2 and 3 (text): one decoder, the differences are configuration.
///
///   x = embed(token) · √hidden
///   per layer:  h = attention(norm(x))      [Gemma 2/3: post-norm on h]  x += h
///               h = down(gelu(gate(norm(x))) ⊙ up(norm(x)))   [post-norm]  x += h
///   logits = norm(x) · embeddingᵀ            [Gemma 2: soft-cap 30]
/// Attention: GQA with RoPE; Gemma 3 normalises q and k per head (QK-norm); local
/// layers see the last `slidingWindow` positions; Gemma 2 soft-caps scores at 50.
/// How the arithmetic runs (sgemm or quantized kernels, batched attention, gathered
/// sparse FFN) is this instance's `options`.
final class GemmaModel: HiddenStateModel {
    let config: ModelConfig
    let weights: GemmaWeights
    /// Rotary embeddings of local and global layers (their bases differ from Gemma 3 on).
    let ropeLocal: [RoPEPart]
    let ropeGlobal: [RoPEPart]
    let linear = LinearKernel()
    let buffers = ForwardBuffers()
    private let activeFFN = ActiveNeuronFFN()
    var options = RuntimeOptions() { didSet { applyOptions() } }
    /// Set when the model was opened through a sparkify overlay: its FFN is then
    /// always the sparkified one (the base file, opened alone, is the dense twin).
    var sparkified: SparkifiedFFN? { didSet { applyOptions() } }
    /// Called with (layer, pre-FFN-normed rows, row count) in every forward: the tap the
    /// sparkify fit (SparkifyFit) collects its calibration inputs through.
    var ffnInputObserver: ((Int, UnsafePointer<Float>, Int) -> Void)?
    /// When set, a forward runs only the layers up to this one (its logits are then
    /// meaningless): the sparkify distillation needs one layer's inputs, not the rest.
    var lastLayerRun: Int?
    /// Prompt chunk size: bounds scratch memory and keeps local-layer rings valid.
    static let chunk = 512

    init(config: ModelConfig, weights: GemmaWeights) {
        self.config = config
        self.weights = weights
        ropeLocal = [RoPEPart(dims: config.headDim, base: config.ropeBaseLocal)]
        ropeGlobal = [RoPEPart(dims: config.headDim, base: config.ropeBaseGlobal, scaling: config.ropeScalingGlobal)]
    }

    private func applyOptions() {
        linear.sgemmMinimumRows = options.sgemmMinimumRows
        sparkified?.sgemmMinimumRows = options.sgemmMinimumRows
    }

    /// Weight bytes a decoded token reads; a sparkified FFN's at its target fraction.
    var decodeWeightBytes: Int {
        weights.lmHead.byteCount
            + weights.layers.enumerated().reduce(0) { sum, e in
                let (li, l) = e
                let ffn =
                    sparkified?.decodeBytes(layer: li, gate: l.gate, up: l.up, down: l.down)
                    ?? [l.gate, l.up, l.down].reduce(0) { $0 + $1.byteCount }
                return sum + [l.q, l.k, l.v, l.o].reduce(0) { $0 + $1.byteCount } + ffn
            }
    }

    convenience init(gguf: GGUFFile) throws {
        let c = try ModelConfig.fromGGUF(gguf)
        self.init(config: c, weights: try GGUFTensorSource(file: gguf).gemmaWeights(c))
    }

    func makeState(capacity: Int) -> ModelState { KVCache(config: config, capacity: capacity, type: options.kvCache) }
    var kvCacheTypes: [KVCacheType] { KVCacheType.allCases }

    func forwardHidden(
        _ tokens: [Int], state: ModelState, rows logitRows: [Int], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float] {
        try ForwardChunks.run(tokens, rows: logitRows, config, state: state) { forwardChunk($0, $1, $2, sparsity, stats) }
    }

    /// The equations of the type comment, one chunk of tokens at a time.
    private func forwardChunk(
        _ tokens: [Int], _ cache: KVCache, _ logitRows: [Int], _ sparsity: SparsityMode,
        _ stats: UnsafeMutablePointer<[TokenStats]>?
    ) -> [Float] {
        let s = ChunkShape(config, tokens: tokens.count, start: cache.length), b = buffers, eps = config.rmsNormEps
        b.prepare(s)
        let ffnPath = feedForwardPath(tokens: s.tokens, sparsity)
        var tokenStats = [TokenStats](repeating: TokenStats(), count: stats == nil ? 0 : s.tokens)
        var timer = SectionTimer()
        TransformerSteps.embed(tokens, weights.embedding, scale: config.embeddingScale, into: b.x)
        for (li, lw) in weights.layers.prefix((lastLayerRun ?? weights.layers.count) + 1).enumerated() {
            attention(li, lw, s, cache, &timer)  // o = attention(norm(x))
            TransformerSteps.addResidual(b.o, postNorm: lw.postAttnNorm, to: b.x, s, eps: eps)
            let active = feedForward(li, lw, ffnPath, s, &timer)  // o = ffn(norm(x))
            TransformerSteps.addResidual(b.o, postNorm: lw.postFfnNorm, to: b.x, s, eps: eps)
            if stats != nil { recordStats(layer: li, lw, active: active, s, into: &tokenStats) }
        }
        cache.advance(by: s.tokens)
        timer.lap(.normsAndEmbedding)
        let hidden = TransformerSteps.finalNorm(b.x, rows: logitRows, weight: weights.finalNorm, eps: eps)
        TransformerSteps.report(tokenStats, to: stats, config, s, logitRows: logitRows)
        return hidden
    }

    /// o = o_proj(attention(norm(x))) for one layer; the chunk's keys and values join the cache.
    private func attention(
        _ li: Int, _ lw: GemmaLayerWeights, _ s: ChunkShape, _ cache: KVCache,
        _ timer: inout SectionTimer
    ) {
        let b = buffers, c = config, T = s.tokens
        let local = c.layerKinds[li] == .local
        TransformerSteps.normRows(b.x, lw.attnNorm, into: b.xn, rows: T, eps: c.rmsNormEps)
        timer.lap(.normsAndEmbedding)
        linear.apply([lw.q, lw.k, lw.v], b.xn, T, [b.q, b.k, b.v])
        timer.lap(.queryKeyValue)
        let qkNorm = lw.qNorm.flatMap { qn in lw.kNorm.map { (q: qn, k: $0) } }
        TransformerSteps.positionQueriesAndKeys(
            q: b.q, k: b.k, s, qkNorm: qkNorm, eps: c.rmsNormEps,
            rope: local ? ropeLocal : ropeGlobal, queryScale: c.queryScale)
        TransformerSteps.writeKV(cache, layer: li, keys: b.k, values: b.v, s)
        TransformerSteps.attend(
            queries: b.q, into: b.attn, cache, layer: li, s, window: config.attentionWindow(layer: li),
            softcap: c.attentionSoftcap, scores: b.scores, batchedMinimum: options.batchedAttentionMinimum)
        timer.lap(.attentionScores)
        linear.apply(lw.o, b.attn, T, b.o)
        timer.lap(.attentionOutput)
    }

    /// How a chunk's feed-forward runs, chosen once per chunk.
    enum FFNPath {
        /// down(gelu(gate·x) ⊙ up·x)
        case dense
        /// The same with run-time statistical top-k on the gate pre-activation: neurons
        /// below mean + std·Φ⁻¹(1−f) are zeroed before the GELU, the others keep their value
        /// (hard mask: a dense checkpoint was not trained with Spark's shift by θ).
        case masked(fraction: Double)
        /// Decode with that mask, reading only the active neurons' up rows and down columns.
        case activeNeurons(fraction: Double)
        /// The sparkify overlay's FFN: one token gathered, or a batch through masked products.
        case sparkifiedToken(SparkifiedFFN), sparkifiedBatch(SparkifiedFFN)
    }

    func feedForwardPath(tokens T: Int, _ sparsity: SparsityMode) -> FFNPath {
        if let sp = sparkified { return T == 1 ? .sparkifiedToken(sp) : .sparkifiedBatch(sp) }
        guard case .statTopK(let f) = sparsity, f < 1 else { return .dense }
        let gather = T == 1 && options.gatherActiveNeurons && ActiveNeuronFFN.supports(hiddenSize: config.hiddenSize)
        return gather ? .activeNeurons(fraction: f) : .masked(fraction: f)
    }

    /// o = ffn(norm(x)) for one layer. Returns each token's count of active neurons.
    func feedForward(
        _ li: Int, _ lw: GemmaLayerWeights, _ path: FFNPath, _ s: ChunkShape,
        _ timer: inout SectionTimer
    ) -> [Int] {
        let b = buffers, T = s.tokens, F = s.ffn
        TransformerSteps.normRows(b.x, lw.ffnNorm, into: b.xn, rows: T, eps: config.rmsNormEps)
        ffnInputObserver?(li, b.xn, T)
        timer.lap(.normsAndEmbedding)
        var active = [Int](repeating: F, count: T)
        switch path {
        case .sparkifiedToken(let sp):
            active[0] = sp.runToken(layer: li, x: b.xn, gate: lw.gate, up: lw.up, down: lw.down, out: b.o)
        case .sparkifiedBatch(let sp):
            linear.apply(lw.gate, b.xn, T, b.gate)
            linear.apply(lw.up, b.xn, T, b.up)
            active = sp.runBatch(layer: li, x: b.xn, T, gate: b.gate, up: b.up, down: lw.down, out: b.o)
        case .activeNeurons(let fraction):
            linear.apply(lw.gate, b.xn, T, b.gate)
            active[0] = activeFFN.run(
                layer: li, gate: b.gate, x: b.xn, up: lw.up, down: lw.down,
                fraction: fraction, out: b.o)
        case .masked(let fraction):
            linear.apply(lw.gate, b.xn, T, b.gate)
            for t in 0..<T { active[t] = StatisticalTopK.applyMask(b.gate + t * F, F, fraction: fraction) }
            gatedUpDown(lw, T: T, F: F)
        case .dense:
            linear.apply([lw.gate, lw.up], b.xn, T, [b.gate, b.up])
            geluDown(lw, T: T, F: F)
        }
        timer.lap(.ffn)
        return active
    }

    /// o = down(gelu(gate) ⊙ up·xn), the gate already in `buffers.gate`.
    private func gatedUpDown(_ lw: GemmaLayerWeights, T: Int, F: Int) {
        linear.apply(lw.up, buffers.xn, T, buffers.up)
        geluDown(lw, T: T, F: F)
    }

    /// o = down(gelu(gate) ⊙ up), both already in the buffers.
    private func geluDown(_ lw: GemmaLayerWeights, T: Int, F: Int) {
        let b = buffers
        ck_geglu_f32(b.gate, b.up, Int64(T * F))
        linear.apply(lw.down, b.gate, T, b.o)
    }

    /// One layer's per-token statistics. Run-time stat-top-k: the gate is always computed;
    /// up and down rows of inactive neurons contribute nothing (skipped by the sparse path,
    /// zero-multiplied in prefill: we count the work the sparse kernels do). Sparkified:
    /// predictor and M, then gate, up and down of active neurons.
    func recordStats(
        layer li: Int, _ lw: GemmaLayerWeights, active: [Int], _ s: ChunkShape,
        into stats: inout [TokenStats]
    ) {
        let D = s.hidden, F = s.ffn, window = config.attentionWindow(layer: li)
        for t in 0..<s.tokens {
            let attended = TransformerSteps.visibleKeys(s.start + t, window: window)
            let attnFlops = TransformerSteps.attentionFlops(
                [lw.q, lw.k, lw.v, lw.o], heads: s.heads, headDim: s.headDim,
                attended: attended)
            let ffnFlops = sparkified?.flops(layer: li, active: active[t], hidden: D) ?? Double(2 * D * F + 2 * 2 * D * active[t])
            stats[t].addLayer(
                active: active[t], of: F, attended: attended, flops: attnFlops + ffnFlops,
                denseFlops: attnFlops + Double(2 * 3 * D * F))
        }
    }

    /// Logits of final-normed hidden rows: all of the vocabulary, or only `vocabulary`
    /// ids (in that order) — the sliced head that self-speculative drafting reads.
    func logits(hidden: [Float], count: Int, vocabulary: [Int32]? = nil) -> [Float] {
        var out = linear.logits(weights.lmHead, hidden: hidden, count: count, vocabulary: vocabulary)
        if let cap = config.finalSoftcap {
            for i in out.indices { out[i] = Layers.softcap(out[i], cap) }
        }
        return out
    }
}
