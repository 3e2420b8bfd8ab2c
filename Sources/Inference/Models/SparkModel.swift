import CKernels
import Foundation

/// Spark Transformer (arXiv 2506.06644) on a Gemma 3 base; the checkpoint format and
/// equations are docs/spark-checkpoint.md, the reference scripts/spark/spark_model.py.
///
///   x = embed(token) · √d
///   per layer:  x += postnorm(SparkAttention(norm(x)))
///               x += postnorm(SparkFFN(norm(x)))
///   logits = norm(x) · embeddingᵀ
/// Spark FFN on x = [x₁ (r); x₂ (d − r)]:
///   A, a = StatTopK(K₁ᵀx₁)                  (predictor: gate_proj [n, r], dense)
///   y = Σ_{i∈A} gelu(aᵢ) · (K₂ᵀx₂)ᵢ · Vᵢ     (up_proj rows and down_proj columns of A only)
/// Spark attention per head on q = [q₁ (r_a); q₂]:
///   T = top-k_a keys by q₁·k₁ among the visible ones,
///   out = Σ_{j∈T} softmax(q₁·k₁)ⱼ · softplus(q₂·k₂ⱼ) · vⱼ
/// Both are computed only where they are non-zero, and the per-token statistics
/// (active neurons, attended keys, FLOPs) count exactly that work.
final class SparkModel: HiddenStateModel {
    struct Settings: Equatable {
        var ffnRank: Int  // r
        var ffnFraction: Double  // k/n
        var attnRank: Int  // r_a
        var attnTopK: Int  // k_a

        /// Reads the spark_* keys of a config.json, checked against the base config.
        static func fromHF(_ json: [String: Any], _ c: ModelConfig) throws -> Settings {
            func int(_ k: String) throws -> Int {
                guard let v = json[k] as? Int else { throw EngineError.format("config.json: missing integer \(k)") }
                return v
            }
            guard let f = json["spark_ffn_fraction"] as? Double, f > 0, f < 1 else {
                throw EngineError.format("config.json: spark_ffn_fraction must be a number in (0, 1)")
            }
            let s = Settings(
                ffnRank: try int("spark_ffn_rank"), ffnFraction: f,
                attnRank: try int("spark_attn_rank"), attnTopK: try int("spark_attn_topk"))
            guard s.ffnRank > 0, s.ffnRank < c.hiddenSize else {
                throw EngineError.format("config.json: spark_ffn_rank \(s.ffnRank) must be in (0, hidden_size \(c.hiddenSize))")
            }
            guard s.attnRank > 0, s.attnRank < c.headDim, s.attnRank % 2 == 0, (c.headDim - s.attnRank) % 2 == 0 else {
                throw EngineError.format("config.json: spark_attn_rank \(s.attnRank) must be even and in (0, head_dim \(c.headDim)) with an even rest")
            }
            guard s.attnTopK > 0, s.attnTopK <= 1 << 20 else {
                throw EngineError.format("config.json: spark_attn_topk \(s.attnTopK) is out of range")
            }
            return s
        }
    }

    struct LayerWeights {
        var attnNorm: [Float], q: WeightMatrix, k: WeightMatrix, v: WeightMatrix, o: WeightMatrix
        var qNorm: [Float], kNorm: [Float], postAttnNorm: [Float], ffnNorm: [Float]
        var predictor: WeightMatrix  // K₁ᵀ: gate_proj [n, r]
        var up: WeightMatrix  // K₂ᵀ: up_proj [n, d − r]
        var down: WeightMatrix  // V: down_proj [d, n] as stored (the dense reference path)
        var downByNeuron: WeightMatrix  // Vᵀ: [n, d] float32 copy, one neuron's column per row
        var postFfnNorm: [Float]
    }

    let config: ModelConfig
    let spark: Settings
    let embedding: WeightMatrix
    let finalNorm: [Float]
    let layers: [LayerWeights]
    private let storage: [AnyObject]
    /// Φ⁻¹(1 − k/n), computed once.
    private let zScore: Double
    /// RoPE of the two parts of a head (each part rotated alone), per layer kind.
    private let rope: [ModelConfig.LayerKind: [RoPEPart]]
    private let linear = LinearKernel()
    private let buffers = ForwardBuffers()
    private let scratch = (0..<8).map { _ in ScratchBuffer() }
    var options = RuntimeOptions() { didSet { linear.sgemmMinimumRows = options.sgemmMinimumRows } }
    /// How the FFN reads up and down: `gather` reads only the active neurons' rows and
    /// columns (decode: fewest bytes); `denseMasked` multiplies all of them with the same
    /// stat-top-k mask in one sgemm per matrix (prefill: compute-bound, where a batched
    /// product beats one gather per token). `auto` picks by the number of tokens.
    enum FFNPath { case auto, gather, denseMasked }
    var ffnPath = FFNPath.auto

    init(
        config: ModelConfig, spark: Settings, embedding: WeightMatrix, finalNorm: [Float], layers: [LayerWeights],
        storage: [AnyObject]
    ) {
        self.config = config; self.spark = spark; self.embedding = embedding; self.finalNorm = finalNorm
        self.layers = layers; self.storage = storage
        zScore = StatisticalTopK.inverseNormalCDF(1 - spark.ffnFraction)
        let ra = spark.attnRank, rb = config.headDim - spark.attnRank
        func parts(_ base: Float) -> [RoPEPart] { [RoPEPart(dims: ra, base: base), RoPEPart(offset: ra, dims: rb, base: base)] }
        rope = [.local: parts(config.ropeBaseLocal), .global: parts(config.ropeBaseGlobal)]
    }

    func makeState(capacity: Int) -> ModelState { KVCache(config: config, capacity: capacity, keyPrefixDims: spark.attnRank) }

    /// `sparsity` is ignored: a Spark model's sparsity is part of its definition.
    func forwardHidden(
        _ tokens: [Int], state: ModelState, rows logitRows: [Int], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float] {
        try ForwardChunks.run(tokens, rows: logitRows, config, state: state) { forwardChunk($0, $1, $2, stats) }
    }

    /// The equations of the type comment, one chunk of tokens at a time.
    private func forwardChunk(
        _ tokens: [Int], _ cache: KVCache, _ logitRows: [Int],
        _ stats: UnsafeMutablePointer<[TokenStats]>?
    ) -> [Float] {
        let s = ChunkShape(config, tokens: tokens.count, start: cache.length), b = buffers, eps = config.rmsNormEps
        b.prepare(s)
        let gather = ffnPath == .gather || (ffnPath == .auto && s.tokens < options.sgemmMinimumRows)
        var tokenStats = [TokenStats](repeating: TokenStats(), count: stats == nil ? 0 : s.tokens)
        var timer = SectionTimer()  // `bench --profile`: where a token's time goes
        TransformerSteps.embed(tokens, embedding, scale: config.embeddingScale, into: b.x)
        for (li, lw) in layers.enumerated() {
            let attended = attention(li, lw, s, cache, &timer)  // o = SparkAttention(norm(x))
            TransformerSteps.addResidual(b.o, postNorm: lw.postAttnNorm, to: b.x, s, eps: eps)
            let active = feedForward(lw, gather: gather, s, &timer)  // o = SparkFFN(norm(x))
            TransformerSteps.addResidual(b.o, postNorm: lw.postFfnNorm, to: b.x, s, eps: eps)
            if stats != nil { recordStats(layer: li, lw, attended: attended, active: active, gather: gather, s, into: &tokenStats) }
        }
        cache.advance(by: s.tokens)
        timer.lap(.normsAndEmbedding)
        let hidden = TransformerSteps.finalNorm(b.x, rows: logitRows, weight: finalNorm, eps: eps)
        TransformerSteps.report(tokenStats, to: stats, config, s, logitRows: logitRows)
        return hidden
    }

    /// o = o_proj(SparkAttention(norm(x))) for one layer; the chunk's keys and values join
    /// the cache. Returns the keys each (token, head) attended (tokens × heads).
    private func attention(
        _ li: Int, _ lw: LayerWeights, _ s: ChunkShape, _ cache: KVCache, _ timer: inout SectionTimer
    ) -> UnsafeMutablePointer<Int> {
        let b = buffers, c = config, T = s.tokens, H = s.heads, hd = s.headDim, qd = s.queryWidth, maxKeys = s.keys
        let ra = spark.attnRank, topK = spark.attnTopK, window = config.attentionWindow(layer: li)
        TransformerSteps.normRows(b.x, lw.attnNorm, into: b.xn, rows: T, eps: c.rmsNormEps)
        timer.lap(.normsAndEmbedding)
        linear.apply(lw.q, b.xn, T, b.q)
        linear.apply(lw.k, b.xn, T, b.k)
        linear.apply(lw.v, b.xn, T, b.v)
        timer.lap(.queryKeyValue)
        // RoPE inside each part, so both partial dot products see relative positions only.
        TransformerSteps.positionQueriesAndKeys(
            q: b.q, k: b.k, s, qkNorm: (q: lw.qNorm, k: lw.kNorm), eps: c.rmsNormEps,
            rope: rope[c.layerKinds[li]] ?? rope[.global]!, queryScale: c.queryScale)
        TransformerSteps.writeKV(cache, layer: li, keys: b.k, values: b.v, s)
        // Per (token, head) job: maxKeys scores, indices and softmax weights.
        let indices = scratch[0].ensure(T * H * maxKeys * 4).assumingMemoryBound(to: Int32.self)
        let weights = scratch[1].floats(T * H * maxKeys)
        let attended = scratch[2].ensure(T * H * 8).assumingMemoryBound(to: Int.self)
        let ring = cache.layers[li].ringSize, kvd = s.kvWidth
        let keys0 = cache.keys(li, slot: 0), values0 = cache.values(li, slot: 0)
        let prefix0 = cache.keyPrefix(li, head: 0), prefixStride = cache.keyPrefixHeadStride(li)
        // One job per (token, KV head): its query heads score each key in one pass.
        let G = s.group, kvHeads = H / G
        parallelFor(T * kvHeads) { job in
            let t = job / kvHeads, g = job % kvHeads, h0 = g * G, position = s.start + t
            let lo = TransformerSteps.firstVisible(position, window: window)
            let head0 = t * H + h0, o = head0 * maxKeys
            ck_spark_attend_group(
                b.q + t * qd + h0 * hd, Int64(G), Int64(hd), keys0 + g * hd, values0 + g * hd, Int64(kvd), Int64(ring),
                Int64(lo), Int64(position - lo + 1), Int64(hd), Int64(ra), Int64(topK),
                b.scores + o, indices + o, weights + o, b.attn + t * qd + h0 * hd, Int64(hd),
                UnsafeMutableRawPointer(attended + head0).assumingMemoryBound(to: Int64.self),
                prefix0.map { $0 + g * prefixStride })
        }
        timer.lap(.attentionScores)
        linear.apply(lw.o, b.attn, T, b.o)
        timer.lap(.attentionOutput)
        return attended
    }

    /// o = SparkFFN(norm(x)) for one layer; returns each token's count of active neurons.
    /// `gather` (decode) reads only the active neurons; otherwise up and down run over every
    /// neuron with the inactive ones zeroed.
    private func feedForward(_ lw: LayerWeights, gather: Bool, _ s: ChunkShape, _ timer: inout SectionTimer) -> [Int] {
        let b = buffers, T = s.tokens, D = s.hidden, F = s.ffn, r = spark.ffnRank
        // Per token the FFN's split input x = [x₁; x₂], active indices and coefficients.
        let x1 = scratch[3].floats(T * r), x2 = scratch[4].floats(T * (D - r))
        let active = scratch[5].ensure(F * 4).assumingMemoryBound(to: Int32.self)
        let coef = scratch[6].floats(2 * F + ComputePool.shared.threads * D)
        let axpyScratch = coef + 2 * F
        TransformerSteps.normRows(b.x, lw.ffnNorm, into: b.xn, rows: T, eps: config.rmsNormEps)
        for t in 0..<T {
            (x1 + t * r).update(from: b.xn + t * D, count: r)
            (x2 + t * (D - r)).update(from: b.xn + t * D + r, count: D - r)
        }
        timer.lap(.normsAndEmbedding)
        linear.apply(lw.predictor, x1, T, b.gate)  // K₁ᵀx₁ for every neuron
        var activeCounts = [Int](repeating: 0, count: T)
        if !gather { linear.apply(lw.up, x2, T, b.up) }  // K₂ᵀx₂ for every neuron and token
        for t in 0..<T {
            let z = b.gate + t * F
            let n = Int(ck_stat_topk(z, Int64(F), zScore, nil, active, coef))
            activeCounts[t] = n
            for i in 0..<n { coef[i] = Layers.geluTanh(coef[i]) }
            timer.lap(.ffnPredictor)
            if gather {
                // (K₂ᵀx₂)ᵢ for i ∈ A only, then y = Σ coefᵢ · Vᵢ over the rows of Vᵀ.
                let out = b.o + t * D
                if n == 0 { out.initialize(repeating: 0, count: D); continue }
                // One pool pass: each thread dots its share of A's up rows (coefᵢ ·= (K₂ᵀx₂)ᵢ) and
                // adds the same neurons' down rows, with no barrier between the two gathers.
                let up = lw.up, down = lw.downByNeuron
                let act = scratch[7].ensure(up.activationBytes)
                ck_quantize_activation(up.ckType, x2 + t * (D - r), act, Int64(D - r))
                ck_spark_ffn_gather_par(
                    ComputePool.shared.pool, up.ckType, up.data, up.rowBytes, Int64(D - r), act, down.ckType, down.data,
                    down.rowBytes, Int64(D), active, coef, Int64(n), out, axpyScratch)
                timer.lap(.ffnGather)
            } else {
                // h = mask ⊙ gelu(a) ⊙ K₂ᵀx₂, written over z (already read).
                let up = b.up + t * F
                z.initialize(repeating: 0, count: F)
                for i in 0..<n { let j = Int(active[i]); z[j] = coef[i] * up[j] }
            }
        }
        if !gather { linear.apply(lw.down, b.gate, T, b.o) }
        timer.lap(.ffn)  // the batched (prefill) path; decode's laps are above
        return activeCounts
    }

    /// One layer's per-token statistics: the work Spark attention and the Spark FFN did
    /// (the batched prefill FFN is counted as done: it multiplies every neuron), and a
    /// dense model's.
    private func recordStats(
        layer li: Int, _ lw: LayerWeights, attended: UnsafePointer<Int>, active: [Int], gather: Bool,
        _ s: ChunkShape, into stats: inout [TokenStats]
    ) {
        let H = s.heads, hd = s.headDim, D = s.hidden, F = s.ffn, r = spark.ffnRank, ra = spark.attnRank
        let projections = [lw.q, lw.k, lw.v, lw.o]
        let proj = TransformerSteps.attentionFlops(projections, heads: H, headDim: hd, attended: 0)
        for t in 0..<s.tokens {
            let visible = TransformerSteps.visibleKeys(s.start + t, window: config.attentionWindow(layer: li))
            let picked = (0..<H).map { attended[t * H + $0] }.max() ?? 0
            let a = active[t]
            let attnFlops = (0..<H).reduce(0.0) { sum, h in
                sum + Double(2 * ra * visible + 2 * (hd - ra) * attended[t * H + h] + 2 * hd * attended[t * H + h])
            }
            let ffnFlops = Double(2 * r * F + (gather ? 2 * (D - r) * a + 2 * D * a : 2 * (D - r) * F + 2 * D * F))
            stats[t].addLayer(
                active: a, of: F, attended: picked, flops: proj + attnFlops + ffnFlops,
                denseFlops: TransformerSteps.attentionFlops(projections, heads: H, headDim: hd, attended: visible)
                    + Double(4 * D * F))
        }
    }

    /// Logits of final-normed hidden rows over the tied embedding (or a slice of it).
    func logits(hidden: [Float], count: Int, vocabulary: [Int32]?) -> [Float] {
        linear.logits(embedding, hidden: hidden, count: count, vocabulary: vocabulary)
    }
}

extension SparkModel {
    /// Builds a Spark model from a checkpoint whose config.json says `model_type: spark_gemma`.
    static func load(_ ck: SafetensorsCheckpoint) throws -> SparkModel {
        var baseJSON = ck.config
        baseJSON["model_type"] = "gemma3_text"  // the Gemma 3 base, read by the Gemma reader
        if let cap = baseJSON["final_logit_softcapping"], !(cap is NSNull) {
            throw EngineError.format("config.json: spark_gemma has no final_logit_softcapping")
        }
        var c = try ModelConfig.fromHF(baseJSON)
        c.architecture = .spark
        let s = try Settings.fromHF(ck.config, c)
        let src = HFTensorSource(checkpoint: ck)
        let d = c.hiddenSize, n = c.intermediateSize, r = s.ffnRank
        let qd = c.headCount * c.headDim, kvd = c.kvHeadCount * c.headDim
        let m = try src.textPrefix()
        var owned: [AnyObject] = [ck]
        var layers: [LayerWeights] = []
        for i in 0..<c.layerCount {
            let p = m + "layers.\(i)."
            let down = try ck.matrix(p + "mlp.down_proj.weight", rows: d, cols: n)
            // Vᵀ in float32, one neuron per row, so the active neurons' columns are contiguous reads.
            let copy = OwnedFloats(count: n * d)
            var row = [Float](repeating: 0, count: n)
            for j in 0..<d {
                row.withUnsafeMutableBufferPointer { down.row(j, into: $0.baseAddress!) }
                for k in 0..<n { copy.pointer[k * d + j] = row[k] }
            }
            owned.append(copy)
            layers.append(
                LayerWeights(
                    attnNorm: try src.norm(p + "input_layernorm.weight", count: d),
                    q: try ck.matrix(p + "self_attn.q_proj.weight", rows: qd, cols: d),
                    k: try ck.matrix(p + "self_attn.k_proj.weight", rows: kvd, cols: d),
                    v: try ck.matrix(p + "self_attn.v_proj.weight", rows: kvd, cols: d),
                    o: try ck.matrix(p + "self_attn.o_proj.weight", rows: d, cols: qd),
                    qNorm: try src.norm(p + "self_attn.q_norm.weight", count: c.headDim),
                    kNorm: try src.norm(p + "self_attn.k_norm.weight", count: c.headDim),
                    postAttnNorm: try src.norm(p + "post_attention_layernorm.weight", count: d),
                    ffnNorm: try src.norm(p + "pre_feedforward_layernorm.weight", count: d),
                    predictor: try ck.matrix(p + "mlp.gate_proj.weight", rows: n, cols: r),
                    up: try ck.matrix(p + "mlp.up_proj.weight", rows: n, cols: d - r),
                    down: down,
                    downByNeuron: WeightMatrix(type: .f32, rows: n, cols: d, data: UnsafeRawPointer(copy.pointer)),
                    postFfnNorm: try src.norm(p + "post_feedforward_layernorm.weight", count: d)))
            for w in [layers[i].q, layers[i].k, layers[i].v, layers[i].o, layers[i].predictor, layers[i].up, down]
            where !ck_supported(w.type) {
                throw EngineError.unsupported("tensor type \(w.type.name) in layer \(i)")
            }
        }
        return SparkModel(
            config: c, spark: s, embedding: try ck.matrix(m + "embed_tokens.weight", rows: c.vocabularySize, cols: d),
            finalNorm: try src.norm(m + "norm.weight", count: d), layers: layers, storage: owned)
    }
}
