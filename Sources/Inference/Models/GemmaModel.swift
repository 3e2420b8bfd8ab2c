import COpenBLAS
import CKernels
import Foundation

/// Gemma 1, 2 and 3 (text): one decoder, the differences are configuration.
///
///   x = embed(token) · √hidden
///   per layer:  h = attention(norm(x))      [Gemma 2/3: post-norm on h]  x += h
///               h = down(gelu(gate(norm(x))) ⊙ up(norm(x)))   [post-norm]  x += h
///   logits = norm(x) · embeddingᵀ            [Gemma 2: soft-cap 30]
/// Attention: GQA with RoPE; Gemma 3 normalises q and k per head (QK-norm); local
/// layers see the last `slidingWindow` positions; Gemma 2 soft-caps scores at 50.
final class GemmaModel: HiddenStateModel {
    /// Chunks of at least this many tokens run attention through sgemm (prefill).
    nonisolated(unsafe) static var batchedAttentionMinimum = 32
    let config: ModelConfig
    let weights: GemmaWeights
    private let invFreqLocal: [Float]
    private let invFreqGlobal: [Float]
    private let linear = LinearKernel()
    private let buffers = ForwardBuffers()
    private let activeFFN = ActiveNeuronFFN()
    /// Set when the model was opened through a sparkify overlay: its FFN is then
    /// always the sparkified one (the base file, opened alone, is the dense twin).
    var sparkified: SparkifiedFFN?
    /// Prompt chunk size: bounds scratch memory and keeps local-layer rings valid.
    static let chunk = 512

    init(config: ModelConfig, weights: GemmaWeights) {
        self.config = config
        self.weights = weights
        invFreqLocal = Layers.ropeInverseFrequencies(base: config.ropeBaseLocal, rotDim: config.headDim)
        invFreqGlobal = Layers.ropeInverseFrequencies(base: config.ropeBaseGlobal, rotDim: config.headDim,
                                                      scaling: config.ropeScalingGlobal)
    }

    var decodeWeightBytes: Int {
        weights.lmHead.byteCount + weights.layers.reduce(0) { sum, l in
            sum + [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce(0) { $0 + $1.byteCount }
        }
    }

    convenience init(gguf: GGUFFile) throws {
        let c = try ModelConfig.fromGGUF(gguf)
        self.init(config: c, weights: try GGUFTensorSource(file: gguf).gemmaWeights(c))
    }

    func makeState(capacity: Int) -> ModelState { KVCache(config: config, capacity: capacity) }

    func forwardHidden(_ tokens: [Int], state: ModelState, rows logitRows: [Int], sparsity: SparsityMode,
                       stats: UnsafeMutablePointer<[TokenStats]>?) throws -> [Float] {
        guard let cache = state as? KVCache else { throw EngineError.input("state does not belong to this model") }
        return try ForwardChunks.run(tokens, rows: logitRows, vocabularySize: config.vocabularySize,
                                     length: cache.length, capacity: cache.capacity) { chunk, rows in
            forwardChunk(chunk, cache, rows, sparsity, stats)
        }
    }

    private func forwardChunk(_ tokens: [Int], _ cache: KVCache, _ logitRows: [Int], _ sparsity: SparsityMode,
                              _ stats: UnsafeMutablePointer<[TokenStats]>?) -> [Float] {
        let c = config, T = tokens.count, D = c.hiddenSize, F = c.intermediateSize
        let H = c.headCount, KV = c.kvHeadCount, hd = c.headDim
        let qd = H * hd, kvd = KV * hd
        let p0 = cache.length
        let b = buffers
        b.prepare(T: T, D: D, F: F, qd: qd, kvd: kvd, heads: H, maxKeys: p0 + T)
        var tokenStats = [TokenStats](repeating: TokenStats(), count: stats == nil ? 0 : T)
        let x = b.x, xn = b.xn

        let profile = DecodeProfile.shared
        var tick = DecodeProfile.now()
        for t in 0..<T {
            weights.embedding.row(tokens[t], into: x + t * D)
            for i in 0..<D { x[t * D + i] *= c.embeddingScale }
        }

        for (li, lw) in weights.layers.enumerated() {
            let local = c.layerKinds[li] == .local
            let window = local ? c.slidingWindow : nil
            // --- attention ---
            for t in 0..<T { Layers.rmsNorm(x + t * D, lw.attnNorm, xn + t * D, D, eps: c.rmsNormEps) }
            tick = profile.lap("norms+embedding", since: tick)
            linear.apply(lw.q, xn, T, b.q)
            linear.apply(lw.k, xn, T, b.k)
            linear.apply(lw.v, xn, T, b.v)
            tick = profile.lap("attention q/k/v", since: tick)
            let invFreq = local ? invFreqLocal : invFreqGlobal
            for t in 0..<T {
                let q = b.q + t * qd, k = b.k + t * kvd
                if let qn = lw.qNorm, let kn = lw.kNorm {
                    for h in 0..<H { Layers.rmsNorm(q + h * hd, qn, q + h * hd, hd, eps: c.rmsNormEps) }
                    for h in 0..<KV { Layers.rmsNorm(k + h * hd, kn, k + h * hd, hd, eps: c.rmsNormEps) }
                }
                Layers.rope(q, heads: H, headDim: hd, rotDim: hd, position: p0 + t, invFreq: invFreq)
                Layers.rope(k, heads: KV, headDim: hd, rotDim: hd, position: p0 + t, invFreq: invFreq)
                for i in 0..<qd { q[i] *= c.queryScale }
            }
            cache.reserve(li, upTo: p0 + T)
            for t in 0..<T {
                let s = cache.slot(li, p0 + t)
                cache.keys(li, slot: s).update(from: b.k + t * kvd, count: kvd)
                cache.values(li, slot: s).update(from: b.v + t * kvd, count: kvd)
            }
            let group = H / KV
            let softcap = c.attentionSoftcap
            let scoresStride = p0 + T
            if T >= GemmaModel.batchedAttentionMinimum && cache.isContiguous(li, upTo: p0 + T) {
                // Prefill: the chunk's attention as two sgemms per head, scores = Q Kᵀ over
                // every cached position, then the causal/window mask, soft-cap and softmax
                // row by row, then out = P V (masked entries are zero). Measured here: 0.72 ms
                // of a 1.64 ms prompt token went to the per-query dot/axpy loop below.
                let nk = p0 + T
                let keys0 = cache.keys(li, slot: 0), values0 = cache.values(li, slot: 0)
                for h in 0..<H {
                    let kvOff = (h / group) * hd
                    let S = b.scores + h * T * scoresStride
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(nk), Int32(hd), 1,
                                b.q + h * hd, Int32(qd), keys0 + kvOff, Int32(kvd), 0, S, Int32(scoresStride))
                    parallelFor(T) { t in
                        let pos = p0 + t
                        let lo = window.map { max(0, pos - $0 + 1) } ?? 0
                        let row = S + t * scoresStride
                        if let cap = softcap { for j in lo...pos { row[j] = Layers.softcap(row[j], cap) } }
                        Layers.softmax(row + lo, pos - lo + 1)
                        for j in 0..<lo { row[j] = 0 }
                        for j in (pos + 1)..<nk { row[j] = 0 }
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(hd), Int32(nk), 1,
                                S, Int32(scoresStride), values0 + kvOff, Int32(kvd), 0, b.attn + h * hd, Int32(qd))
                }
            } else {
                parallelFor(T * H) { job in
                    let t = job / H, h = job % H
                    let pos = p0 + t
                    let lo = window.map { max(0, pos - $0 + 1) } ?? 0
                    let n = pos - lo + 1
                    let q = b.q + t * qd + h * hd
                    let kvOff = (h / group) * hd
                    let scores = b.scores + job * scoresStride
                    for j in 0..<n {
                        let s = cache.slot(li, lo + j)
                        var v = ck_dot_f32(q, cache.keys(li, slot: s) + kvOff, Int64(hd))
                        if let cap = softcap { v = Layers.softcap(v, cap) }
                        scores[j] = v
                    }
                    Layers.softmax(scores, n)
                    let out = b.attn + t * qd + h * hd
                    out.initialize(repeating: 0, count: hd)
                    for j in 0..<n {
                        ck_axpy_f32(scores[j], cache.values(li, slot: cache.slot(li, lo + j)) + kvOff, out, Int64(hd))
                    }
                }
            }
            tick = profile.lap("attention scores", since: tick)
            linear.apply(lw.o, b.attn, T, b.o)
            tick = profile.lap("attention output", since: tick)
            for t in 0..<T {
                let o = b.o + t * D
                if let pn = lw.postAttnNorm { Layers.rmsNorm(o, pn, o, D, eps: c.rmsNormEps) }
                for i in 0..<D { x[t * D + i] += o[i] }
            }
            // --- feed-forward (GeGLU) ---
            for t in 0..<T { Layers.rmsNorm(x + t * D, lw.ffnNorm, xn + t * D, D, eps: c.rmsNormEps) }
            tick = profile.lap("norms+embedding", since: tick)
            var active = [Int](repeating: F, count: T)
            if let sp = sparkified {
                if T == 1 {
                    active[0] = sp.runToken(layer: li, x: xn, gate: lw.gate, up: lw.up, out: b.o)
                } else {
                    linear.apply(lw.gate, xn, T, b.gate)
                    linear.apply(lw.up, xn, T, b.up)
                    active = sp.runBatch(layer: li, x: xn, T, gate: b.gate, up: b.up, down: lw.down, out: b.o)
                }
            } else {
                linear.apply(lw.gate, xn, T, b.gate)
                var gathered = false
                if T == 1, case .statTopK(let fraction) = sparsity, fraction < 1, ActiveNeuronFFN.supports(lw.down) {
                    // Decode: read only the up rows and down columns of active neurons.
                    active[0] = activeFFN.run(layer: li, gate: b.gate, x: xn, up: lw.up, down: lw.down,
                                              fraction: fraction, out: b.o)
                    gathered = true
                } else if case .statTopK(let fraction) = sparsity, fraction < 1 {
                    // Statistical top-k on the gate pre-activation: neurons below
                    // mean + std·Φ⁻¹(1−f) are zeroed before the GELU, the others keep their value
                    // (hard mask: a dense checkpoint was not trained with Spark's shift by θ).
                    for t in 0..<T { active[t] = StatisticalTopK.applyMask(b.gate + t * F, F, fraction: fraction) }
                }
                if !gathered {
                    linear.apply(lw.up, xn, T, b.up)
                    ck_geglu_f32(b.gate, b.up, Int64(T * F))
                    linear.apply(lw.down, b.gate, T, b.o)
                }
            }
            tick = profile.lap("ffn", since: tick)
            for t in 0..<T {
                let o = b.o + t * D
                if let pn = lw.postFfnNorm { Layers.rmsNorm(o, pn, o, D, eps: c.rmsNormEps) }
                for i in 0..<D { x[t * D + i] += o[i] }
            }
            if stats != nil {
                let attnMats = lw.q.rows * lw.q.cols + lw.k.rows * lw.k.cols + lw.v.rows * lw.v.cols + lw.o.rows * lw.o.cols
                for t in 0..<T {
                    let pos = p0 + t
                    let attended = window.map { min($0, pos + 1) } ?? (pos + 1)
                    let attnFlops = Double(2 * attnMats + 4 * H * hd * attended)
                    let ffnDense = Double(2 * 3 * D * F)
                    // Run-time stat-top-k: the gate is always computed; up and down rows of
                    // inactive neurons contribute nothing (skipped by the sparse path,
                    // zero-multiplied in prefill: we count the work the sparse kernels do).
                    // Sparkified: predictor and M, then gate, up and down of active neurons.
                    let ffnActual = sparkified?.flops(layer: li, active: active[t], hidden: D)
                        ?? Double(2 * D * F + 2 * 2 * D * active[t])
                    tokenStats[t].ffnActivePerLayer.append(active[t])
                    tokenStats[t].ffnTotalPerLayer.append(F)
                    tokenStats[t].attendedPerLayer.append(attended)
                    tokenStats[t].flops += attnFlops + ffnActual
                    tokenStats[t].flopsDense += attnFlops + ffnDense
                }
            }
        }
        cache.advance(by: T)
        tick = profile.lap("norms+embedding", since: tick)

        // --- output: final norm of the rows whose logits are wanted ---
        var hidden = [Float](repeating: 0, count: logitRows.count * D)
        hidden.withUnsafeMutableBufferPointer { hp in
            for (i, r) in logitRows.enumerated() {
                Layers.rmsNorm(x + r * D, weights.finalNorm, hp.baseAddress! + i * D, D, eps: c.rmsNormEps)
            }
        }
        if let stats {
            tokenStats.addHead(vocabularySize: c.vocabularySize, hiddenSize: D, p0: p0, logitRows: logitRows)
            stats.pointee += tokenStats
        }
        return hidden
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

/// Activations of one forward chunk, grown on demand and reused across calls.
final class ForwardBuffers {
    private var storage: [ScratchBuffer] = (0..<10).map { _ in ScratchBuffer() }
    private static let empty = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var x = empty, xn = empty, q = empty, k = empty, v = empty, attn = empty
    private(set) var o = empty, gate = empty, up = empty, scores = empty

    func prepare(T: Int, D: Int, F: Int, qd: Int, kvd: Int, heads: Int, maxKeys: Int) {
        x = storage[0].floats(T * D)
        xn = storage[1].floats(T * max(D, 1))
        q = storage[2].floats(T * qd)
        k = storage[3].floats(T * kvd)
        v = storage[4].floats(T * kvd)
        attn = storage[5].floats(T * qd)
        o = storage[6].floats(T * D)
        gate = storage[7].floats(T * F)
        up = storage[8].floats(T * F)
        scores = storage[9].floats(T * heads * maxKeys)
    }
}
