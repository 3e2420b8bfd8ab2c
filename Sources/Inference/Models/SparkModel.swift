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
        var ffnRank: Int          // r
        var ffnFraction: Double   // k/n
        var attnRank: Int         // r_a
        var attnTopK: Int         // k_a

        /// Reads the spark_* keys of a config.json, checked against the base config.
        static func fromHF(_ json: [String: Any], _ c: ModelConfig) throws -> Settings {
            func int(_ k: String) throws -> Int {
                guard let v = json[k] as? Int else { throw EngineError.format("config.json: missing integer \(k)") }
                return v
            }
            guard let f = json["spark_ffn_fraction"] as? Double, f > 0, f < 1 else {
                throw EngineError.format("config.json: spark_ffn_fraction must be a number in (0, 1)")
            }
            let s = Settings(ffnRank: try int("spark_ffn_rank"), ffnFraction: f,
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
        var predictor: WeightMatrix   // K₁ᵀ: gate_proj [n, r]
        var up: WeightMatrix          // K₂ᵀ: up_proj [n, d − r]
        var down: WeightMatrix        // V: down_proj [d, n] as stored (the dense reference path)
        var downByNeuron: WeightMatrix // Vᵀ: [n, d] float32 copy, one neuron's column per row
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
    /// RoPE inverse frequencies of the two parts of a head, per layer kind.
    private let rope: [ModelConfig.LayerKind: (part1: [Float], part2: [Float])]
    private let linear = LinearKernel()
    private let buffers = ForwardBuffers()
    private let scratch = (0..<8).map { _ in ScratchBuffer() }
    /// How the FFN reads up and down: `gather` reads only the active neurons' rows and
    /// columns (decode: fewest bytes); `denseMasked` multiplies all of them with the same
    /// stat-top-k mask in one sgemm per matrix (prefill: compute-bound, where a batched
    /// product beats one gather per token). `auto` picks by the number of tokens.
    enum FFNPath { case auto, gather, denseMasked }
    var ffnPath = FFNPath.auto

    init(config: ModelConfig, spark: Settings, embedding: WeightMatrix, finalNorm: [Float], layers: [LayerWeights],
         storage: [AnyObject]) {
        self.config = config; self.spark = spark; self.embedding = embedding; self.finalNorm = finalNorm
        self.layers = layers; self.storage = storage
        zScore = StatisticalTopK.inverseNormalCDF(1 - spark.ffnFraction)
        let ra = spark.attnRank, rb = config.headDim - spark.attnRank
        rope = [
            .local: (Layers.ropeInverseFrequencies(base: config.ropeBaseLocal, rotDim: ra),
                     Layers.ropeInverseFrequencies(base: config.ropeBaseLocal, rotDim: rb)),
            .global: (Layers.ropeInverseFrequencies(base: config.ropeBaseGlobal, rotDim: ra),
                      Layers.ropeInverseFrequencies(base: config.ropeBaseGlobal, rotDim: rb)),
        ]
    }

    func makeState(capacity: Int) -> ModelState { KVCache(config: config, capacity: capacity) }

    /// `sparsity` is ignored: a Spark model's sparsity is part of its definition.
    func forwardHidden(_ tokens: [Int], state: ModelState, rows logitRows: [Int], sparsity: SparsityMode,
                       stats: UnsafeMutablePointer<[TokenStats]>?) throws -> [Float] {
        guard let cache = state as? KVCache else { throw EngineError.input("state does not belong to this model") }
        return try ForwardChunks.run(tokens, rows: logitRows, vocabularySize: config.vocabularySize,
                                     length: cache.length, capacity: cache.capacity) { chunk, rows in
            forwardChunk(chunk, cache, rows, stats)
        }
    }

    private func forwardChunk(_ tokens: [Int], _ cache: KVCache, _ logitRows: [Int],
                              _ stats: UnsafeMutablePointer<[TokenStats]>?) -> [Float] {
        let c = config, T = tokens.count, D = c.hiddenSize, F = c.intermediateSize
        let H = c.headCount, KV = c.kvHeadCount, hd = c.headDim
        let qd = H * hd, kvd = KV * hd, r = spark.ffnRank, ra = spark.attnRank
        let p0 = cache.length, maxKeys = p0 + T
        let b = buffers
        b.prepare(T: T, D: D, F: F, qd: qd, kvd: kvd, heads: H, maxKeys: maxKeys)
        let x = b.x, xn = b.xn
        // Spark scratch: per (token, head) job n scores, indices and softmax weights; per
        // token the FFN's split input, active indices and coefficients.
        let attnIdx = scratch[0].ensure(T * H * maxKeys * 4).assumingMemoryBound(to: Int32.self)
        let attnTmp = scratch[1].floats(T * H * maxKeys)
        let attended = scratch[2].ensure(T * H * 8).assumingMemoryBound(to: Int.self)
        let x1 = scratch[3].floats(T * r), x2 = scratch[4].floats(T * (D - r))
        let active = scratch[5].ensure(F * 4).assumingMemoryBound(to: Int32.self)
        let coef = scratch[6].floats(2 * F + ComputePool.shared.threads * D)
        let upValues = coef + F, axpyScratch = coef + 2 * F
        var tokenStats = [TokenStats](repeating: TokenStats(), count: stats == nil ? 0 : T)

        for t in 0..<T {
            embedding.row(tokens[t], into: x + t * D)
            for i in 0..<D { x[t * D + i] *= c.embeddingScale }
        }
        for (li, lw) in layers.enumerated() {
            let kind = c.layerKinds[li]
            let window = kind == .local ? c.slidingWindow : nil
            let (inv1, inv2) = rope[kind] ?? rope[.global]!
            // --- Spark attention ---
            for t in 0..<T { Layers.rmsNorm(x + t * D, lw.attnNorm, xn + t * D, D, eps: c.rmsNormEps) }
            linear.apply(lw.q, xn, T, b.q)
            linear.apply(lw.k, xn, T, b.k)
            linear.apply(lw.v, xn, T, b.v)
            for t in 0..<T {
                let q = b.q + t * qd, k = b.k + t * kvd, pos = p0 + t
                for h in 0..<H { Layers.rmsNorm(q + h * hd, lw.qNorm, q + h * hd, hd, eps: c.rmsNormEps) }
                for h in 0..<KV { Layers.rmsNorm(k + h * hd, lw.kNorm, k + h * hd, hd, eps: c.rmsNormEps) }
                // RoPE inside each part, so both partial dot products see relative positions only.
                Layers.rope(q, heads: H, headDim: hd, rotDim: ra, position: pos, invFreq: inv1)
                Layers.rope(q + ra, heads: H, headDim: hd, rotDim: hd - ra, position: pos, invFreq: inv2)
                Layers.rope(k, heads: KV, headDim: hd, rotDim: ra, position: pos, invFreq: inv1)
                Layers.rope(k + ra, heads: KV, headDim: hd, rotDim: hd - ra, position: pos, invFreq: inv2)
                for i in 0..<qd { q[i] *= c.queryScale }
            }
            cache.reserve(li, upTo: p0 + T)
            for t in 0..<T {
                let s = cache.slot(li, p0 + t)
                cache.keys(li, slot: s).update(from: b.k + t * kvd, count: kvd)
                cache.values(li, slot: s).update(from: b.v + t * kvd, count: kvd)
            }
            let ring = cache.layers[li].ringSize
            let keys0 = cache.keys(li, slot: 0), values0 = cache.values(li, slot: 0)
            let group = H / KV, topK = spark.attnTopK
            parallelFor(T * H) { job in
                let t = job / H, h = job % H, pos = p0 + t
                let lo = window.map { max(0, pos - $0 + 1) } ?? 0
                let kvOff = (h / group) * hd
                let o = job * maxKeys
                attended[job] = Int(ck_spark_attend(b.q + t * qd + h * hd, keys0 + kvOff, values0 + kvOff, Int64(kvd), Int64(ring),
                                                    Int64(lo), Int64(pos - lo + 1), Int64(hd), Int64(ra), Int64(topK),
                                                    b.scores + o, attnIdx + o, attnTmp + o, b.attn + t * qd + h * hd))
            }
            linear.apply(lw.o, b.attn, T, b.o)
            for t in 0..<T {
                let o = b.o + t * D
                Layers.rmsNorm(o, lw.postAttnNorm, o, D, eps: c.rmsNormEps)
                for i in 0..<D { x[t * D + i] += o[i] }
            }

            // --- Spark FFN ---
            for t in 0..<T {
                Layers.rmsNorm(x + t * D, lw.ffnNorm, xn + t * D, D, eps: c.rmsNormEps)
                (x1 + t * r).update(from: xn + t * D, count: r)
                (x2 + t * (D - r)).update(from: xn + t * D + r, count: D - r)
            }
            linear.apply(lw.predictor, x1, T, b.gate)          // K₁ᵀx₁ for every neuron
            var activeCounts = [Int](repeating: 0, count: T)
            let gather = ffnPath == .gather || (ffnPath == .auto && T < LinearKernel.sgemmThreshold)
            if !gather { linear.apply(lw.up, x2, T, b.up) }   // K₂ᵀx₂ for every neuron and token
            for t in 0..<T {
                let z = b.gate + t * F
                let n = Int(ck_stat_topk(z, Int64(F), zScore, nil, active, coef))
                activeCounts[t] = n
                for i in 0..<n { coef[i] = Layers.geluTanh(coef[i]) }
                if gather {
                    // (K₂ᵀx₂)ᵢ for i ∈ A only, then y = Σ coefᵢ · Vᵢ over the rows of Vᵀ.
                    let out = b.o + t * D
                    if n == 0 { out.initialize(repeating: 0, count: D); continue }
                    linear.applyRows(lw.up, x2 + t * (D - r), rows: active, count: n, upValues)
                    for i in 0..<n { coef[i] *= upValues[i] }
                    ck_axpy_rows_par(ComputePool.shared.pool, Int32(lw.downByNeuron.type.rawValue), lw.downByNeuron.data,
                                     lw.downByNeuron.rowBytes, Int64(D), active, coef, Int64(n), out, axpyScratch)
                } else {
                    // h = mask ⊙ gelu(a) ⊙ K₂ᵀx₂, written over z (already read).
                    let up = b.up + t * F
                    z.initialize(repeating: 0, count: F)
                    for i in 0..<n { let j = Int(active[i]); z[j] = coef[i] * up[j] }
                }
            }
            if !gather { linear.apply(lw.down, b.gate, T, b.o) }
            for t in 0..<T {
                let o = b.o + t * D
                Layers.rmsNorm(o, lw.postFfnNorm, o, D, eps: c.rmsNormEps)
                for i in 0..<D { x[t * D + i] += o[i] }
            }
            if stats != nil {
                let proj = Double(2 * (lw.q.rows * lw.q.cols + lw.k.rows * lw.k.cols + lw.v.rows * lw.v.cols + lw.o.rows * lw.o.cols))
                for t in 0..<T {
                    let pos = p0 + t
                    let visible = window.map { min($0, pos + 1) } ?? (pos + 1)
                    let picked = (0..<H).map { attended[t * H + $0] }.max() ?? 0
                    let a = activeCounts[t]
                    let attnFlops = (0..<H).reduce(0.0) { s, h in
                        s + Double(2 * ra * visible + 2 * (hd - ra) * attended[t * H + h] + 2 * hd * attended[t * H + h])
                    }
                    // Counted as done: the batched prefill path multiplies every neuron.
                    let ffnFlops = Double(2 * r * F + (gather ? 2 * (D - r) * a + 2 * D * a : 2 * (D - r) * F + 2 * D * F))
                    tokenStats[t].ffnActivePerLayer.append(a)
                    tokenStats[t].ffnTotalPerLayer.append(F)
                    tokenStats[t].attendedPerLayer.append(picked)
                    tokenStats[t].flops += proj + attnFlops + ffnFlops
                    tokenStats[t].flopsDense += proj + Double(4 * H * hd * visible) + Double(4 * D * F)
                }
            }
        }
        cache.advance(by: T)

        var hidden = [Float](repeating: 0, count: logitRows.count * D)
        hidden.withUnsafeMutableBufferPointer { hp in
            for (i, row) in logitRows.enumerated() {
                Layers.rmsNorm(x + row * D, finalNorm, hp.baseAddress! + i * D, D, eps: c.rmsNormEps)
            }
        }
        if let stats {
            tokenStats.addHead(vocabularySize: c.vocabularySize, hiddenSize: D, p0: p0, logitRows: logitRows)
            stats.pointee += tokenStats
        }
        return hidden
    }

    /// Logits of final-normed hidden rows over the tied embedding (or a slice of it).
    func logits(hidden: [Float], count: Int, vocabulary: [Int32]?) -> [Float] {
        linear.logits(embedding, hidden: hidden, count: count, vocabulary: vocabulary)
    }
}

/// Float storage owned by a model (the neuron-major copies of down_proj).
final class OwnedFloats {
    let pointer: UnsafeMutablePointer<Float>
    init(count: Int) { pointer = .allocate(capacity: max(count, 1)) }
    deinit { pointer.deallocate() }
}

extension SparkModel {
    /// Builds a Spark model from a checkpoint whose config.json says `model_type: spark_gemma`.
    static func load(_ ck: SafetensorsCheckpoint) throws -> SparkModel {
        var baseJSON = ck.config
        baseJSON["model_type"] = "gemma3_text"            // the Gemma 3 base, read by the Gemma reader
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
            layers.append(LayerWeights(
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
        return SparkModel(config: c, spark: s, embedding: try ck.matrix(m + "embed_tokens.weight", rows: c.vocabularySize, cols: d),
                          finalNorm: try src.norm(m + "norm.weight", count: d), layers: layers, storage: owned)
    }
}
