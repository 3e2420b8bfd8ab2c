import CKernels
import COpenBLAS

/// The steps a Gemma-family decoder layer is made of, written once for every model
/// (the role of mlx-lm's models/base.py). Each works on a chunk of `ChunkShape.tokens`
/// rows laid out row-major in the caller's buffers.
enum TransformerSteps {
    /// x[t] = embedding[token t] · scale
    static func embed(_ tokens: [Int], _ table: WeightMatrix, scale: Float, into x: UnsafeMutablePointer<Float>) {
        let D = table.cols
        for (t, id) in tokens.enumerated() {
            table.row(id, into: x + t * D)
            for i in 0..<D { x[t * D + i] *= scale }
        }
    }

    /// out[r] = rmsNorm(x[r]) · w for `rows` rows of w.count values (out may be x).
    static func normRows(_ x: UnsafePointer<Float>, _ w: [Float], into out: UnsafeMutablePointer<Float>, rows: Int, eps: Float) {
        let n = w.count
        w.withUnsafeBufferPointer { wp in
            for r in 0..<rows { Layers.rmsNorm(x + r * n, wp.baseAddress!, out + r * n, n, eps: eps) }
        }
    }

    /// x[t] += postNorm(o[t]), or the plain sum where the family has no post-norm
    /// (Gemma 1). `o` is normed in place.
    static func addResidual(
        _ o: UnsafeMutablePointer<Float>, postNorm: [Float]?, to x: UnsafeMutablePointer<Float>,
        _ s: ChunkShape, eps: Float
    ) {
        let D = s.hidden
        if let w = postNorm { normRows(o, w, into: o, rows: s.tokens, eps: eps) }
        for i in 0..<(s.tokens * D) { x[i] += o[i] }
    }

    /// For each token: q and k normed per head (QK-norm: Gemma 3, Spark), rotated to the
    /// token's position, and q scaled by the query scale.
    static func positionQueriesAndKeys(
        q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, _ s: ChunkShape,
        qkNorm: (q: [Float], k: [Float])?, eps: Float, rope: [RoPEPart], queryScale: Float
    ) {
        let hd = s.headDim, qd = s.queryWidth, kvd = s.kvWidth
        for t in 0..<s.tokens {
            let qt = q + t * qd, kt = k + t * kvd, position = s.start + t
            if let norm = qkNorm {
                normRows(qt, norm.q, into: qt, rows: s.heads, eps: eps)
                normRows(kt, norm.k, into: kt, rows: s.kvHeads, eps: eps)
            }
            for part in rope {
                Layers.rope(
                    qt + part.offset, heads: s.heads, headDim: hd, rotDim: part.dims, position: position,
                    invFreq: part.inverseFrequencies)
                Layers.rope(
                    kt + part.offset, heads: s.kvHeads, headDim: hd, rotDim: part.dims, position: position,
                    invFreq: part.inverseFrequencies)
            }
            for i in 0..<qd { qt[i] *= queryScale }
        }
    }

    /// Stores the chunk's keys and values at their positions in `layer`'s cache.
    static func writeKV(
        _ cache: KVCache, layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>,
        _ s: ChunkShape
    ) {
        let kvd = s.kvWidth
        cache.reserve(layer, upTo: s.keys)
        for t in 0..<s.tokens {
            cache.store(layer, slot: cache.slot(layer, s.start + t), keys: k + t * kvd, values: v + t * kvd)
        }
    }

    /// The first position a query at `position` sees: 0, or the start of its window.
    @inline(__always) static func firstVisible(_ position: Int, window: Int?) -> Int {
        window.map { max(0, position - $0 + 1) } ?? 0
    }

    /// How many positions a query at `position` sees.
    static func visibleKeys(_ position: Int, window: Int?) -> Int { window.map { min($0, position + 1) } ?? (position + 1) }

    /// out = softmax(softcap(q · kⱼ)) · V over the cached window, for every token and
    /// query head of the chunk (grouped-query: `group` query heads share a KV head).
    /// Long chunks over a contiguous cache run as two sgemms per head; the rest one
    /// dot and one axpy per key.
    static func attend(
        queries q: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ cache: KVCache, layer: Int,
        _ s: ChunkShape, window: Int?, softcap: Float?, scores: UnsafeMutablePointer<Float>,
        batchedMinimum: Int
    ) {
        if s.tokens >= batchedMinimum && cache.isContiguous(layer, upTo: s.keys) {
            attendBatched(queries: q, into: out, cache, layer: layer, s, window: window, softcap: softcap, scores: scores)
        } else {
            attendPerQuery(
                queries: q, into: out, cache, layer: layer, s, window: window, softcap: softcap,
                scores: scores, scoresStride: s.keys)
        }
    }

    /// One job per (token, head): the dot products with the visible keys, softmax, and the
    /// weighted sum of values. `scores` holds `scoresStride` floats per job (at least the
    /// visible positions).
    static func attendPerQuery(
        queries q: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ cache: KVCache,
        layer: Int, _ s: ChunkShape, window: Int?, softcap: Float?,
        scores: UnsafeMutablePointer<Float>, scoresStride: Int, groupedMinimum: Int = groupedAttentionMinimum
    ) {
        if cache.type == .q8_0 {
            attendPerQueryQ8(
                queries: q, into: out, cache, layer: layer, s, window: window, softcap: softcap,
                scores: scores, scoresStride: scoresStride)
            return
        }
        let H = s.heads, hd = s.headDim, qd = s.queryWidth, group = s.group, p0 = s.start
        if group > 1 && visibleKeys(p0 + s.tokens - 1, window: window) >= groupedMinimum {
            attendPerQueryGrouped(
                queries: q, into: out, cache, layer: layer, s, window: window, softcap: softcap,
                scores: scores, scoresStride: scoresStride)
            return
        }
        parallelFor(s.tokens * H) { job in
            let t = job / H, h = job % H, position = p0 + t
            let lo = firstVisible(position, window: window), n = position - lo + 1
            let qh = q + t * qd + h * hd, kvOff = (h / group) * hd
            let weights = scores + job * scoresStride
            for j in 0..<n {
                var v = ck_dot_f32(qh, cache.keys(layer, slot: cache.slot(layer, lo + j)) + kvOff, Int64(hd))
                if let cap = softcap { v = Layers.softcap(v, cap) }
                weights[j] = v
            }
            Layers.softmax(weights, n)
            let o = out + t * qd + h * hd
            o.initialize(repeating: 0, count: hd)
            for j in 0..<n {
                ck_axpy_f32(weights[j], cache.values(layer, slot: cache.slot(layer, lo + j)) + kvOff, o, Int64(hd))
            }
        }
    }

    /// From this many visible keys on, `attendPerQuery` works in chunks of cache rows
    /// (`attendPerQueryGrouped`) instead of one job per query head, whose per-key calls and
    /// full passes per head made decode at depth 16,384 0.82x llama.cpp's. Below ~1k keys
    /// (every sliding-window layer) the per-head loop is as fast and keeps its order.
    static let groupedAttentionMinimum = 1024

    /// `attendPerQuery` as jobs over chunks of 512 cache rows, each row read once for all
    /// the query heads that share it: the group's scores per row (ck_dot_group_f32), the
    /// softmax per head, then each chunk's weighted sum of values into a partial sum
    /// (ck_axpy_group_f32), the partials added in chunk order. Only that last sum's order
    /// differs from the per-head loop (float rounding, ~1e-7 relative). Measured on one
    /// global layer of Gemma 3 270M at 16,384 keys, 2 threads: 3.7 -> 1.5 ms per token.
    static func attendPerQueryGrouped(
        queries q: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ cache: KVCache,
        layer: Int, _ s: ChunkShape, window: Int?, softcap: Float?,
        scores: UnsafeMutablePointer<Float>, scoresStride: Int
    ) {
        let H = s.heads, KV = s.kvHeads, hd = s.headDim, qd = s.queryWidth, G = s.group, p0 = s.start
        let keys = cache.keys(layer, slot: 0), values = cache.values(layer, slot: 0)
        let ring = cache.layers[layer].ringSize, rowStride = cache.width
        let keyChunk = 512
        let chunks = (visibleKeys(p0 + s.tokens - 1, window: window) + keyChunk - 1) / keyChunk
        parallelFor(s.tokens * KV * chunks) { job in
            let c = job % chunks, kvh = (job / chunks) % KV, t = job / (chunks * KV), position = p0 + t
            let lo = firstVisible(position, window: window), n = position - lo + 1
            let j0 = c * keyChunk
            guard j0 < n else { return }
            let firstHead = t * H + kvh * G
            forEachRun(from: lo + j0, count: min(n, j0 + keyChunk) - j0, ring: ring) { slot, j, count in
                ck_dot_group_f32(
                    q + t * qd + kvh * G * hd, Int64(hd), Int64(G), keys + slot * rowStride + kvh * hd, Int64(rowStride),
                    Int64(count), scores + firstHead * scoresStride + j0 + j, Int64(scoresStride), Int64(hd))
            }
            if let cap = softcap {
                for h in 0..<G {
                    let row = scores + (firstHead + h) * scoresStride
                    for j in j0..<min(n, j0 + keyChunk) { row[j] = Layers.softcap(row[j], cap) }
                }
            }
        }
        parallelFor(s.tokens * H) { job in
            Layers.softmax(scores + job * scoresStride, visibleKeys(p0 + job / H, window: window))
        }
        // The weighted sum by chunks of keys too, each into its own partial sum (G x hd),
        // then the partials added in chunk order.
        let partial = cache.attentionPartials.floats(s.tokens * KV * chunks * G * hd)
        parallelFor(s.tokens * KV * chunks) { job in
            let c = job % chunks, kvh = (job / chunks) % KV, t = job / (chunks * KV), position = p0 + t
            let lo = firstVisible(position, window: window), n = position - lo + 1
            let j0 = c * keyChunk, o = partial + job * G * hd
            o.initialize(repeating: 0, count: G * hd)
            guard j0 < n else { return }
            let firstHead = t * H + kvh * G
            forEachRun(from: lo + j0, count: min(n, j0 + keyChunk) - j0, ring: ring) { slot, j, count in
                ck_axpy_group_f32(
                    scores + firstHead * scoresStride + j0 + j, Int64(scoresStride), Int64(G),
                    values + slot * rowStride + kvh * hd, Int64(rowStride), Int64(count), o, Int64(hd), Int64(hd))
            }
        }
        for t in 0..<s.tokens {
            for kvh in 0..<KV {
                let o = out + t * qd + kvh * G * hd, first = partial + (t * KV + kvh) * chunks * G * hd
                o.update(from: first, count: G * hd)
                for c in 1..<max(1, chunks) { ck_axpy_f32(1, first + c * G * hd, o, Int64(G * hd)) }
            }
        }
    }

    /// Positions `from ..< from + count` as runs of consecutive ring slots: (first slot,
    /// offset of the run within the positions, its length); at most two runs.
    @inline(__always) static func forEachRun(from: Int, count: Int, ring: Int, _ body: (Int, Int, Int) -> Void) {
        var done = 0
        while done < count {
            let slot = (from + done) % ring, n = min(count - done, ring - slot)
            body(slot, done, n)
            done += n
        }
    }

    /// `attendPerQuery` over a q8_0 cache: the scores and the weighted sum of values read
    /// the int8 rows directly (ck_kv_q8_scores, ck_kv_q8_weighted_sum), ring slots and all.
    static func attendPerQueryQ8(
        queries q: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ cache: KVCache,
        layer: Int, _ s: ChunkShape, window: Int?, softcap: Float?,
        scores: UnsafeMutablePointer<Float>, scoresStride: Int
    ) {
        let H = s.heads, hd = s.headDim, qd = s.queryWidth, group = s.group, p0 = s.start
        let keys = cache.rawKeys(layer), values = cache.rawValues(layer)
        let ring = Int64(cache.layers[layer].ringSize), stride = cache.rowBytes, headBytes = cache.headRowBytes
        parallelFor(s.tokens * H) { job in
            let t = job / H, h = job % H, position = p0 + t
            let lo = firstVisible(position, window: window), n = position - lo + 1
            let kvHead = (h / group) * headBytes
            let weights = scores + job * scoresStride
            ck_kv_q8_scores(q + t * qd + h * hd, keys + kvHead, stride, ring, Int64(lo), Int64(n), Int64(hd), weights)
            if let cap = softcap { for j in 0..<n { weights[j] = Layers.softcap(weights[j], cap) } }
            Layers.softmax(weights, n)
            ck_kv_q8_weighted_sum(weights, values + kvHead, stride, ring, Int64(lo), Int64(n), Int64(hd), out + t * qd + h * hd)
        }
    }

    /// Query tokens per block of batched attention. Each block's sgemms cover only the keys
    /// its tokens can see (from the first one's window start to its last position), so a
    /// causal prompt computes about half of the full T × T products: 512 tokens from
    /// position 0 in blocks of 64 compute 56% of them.
    static let attentionQueryBlock = 64

    /// Prefill: per block of query tokens and per head, scores = Q Kᵀ over the keys the
    /// block can see (one sgemm), then the causal/window mask, soft-cap and softmax row by
    /// row, then out = P V (masked entries are zero). Where one KV head serves every query
    /// head, a token's query heads are consecutive rows of one matrix (stride headDim), so
    /// the group runs as one sgemm of tokens × group rows. Measured on Gemma 3 270M, 512
    /// tokens, 2 threads (AVX-512 EPYC): attention took 0.415 ms of a 1.84 ms prompt token
    /// as full T × T products per head, 0.22 ms of 1.41 ms this way (blocks of 32 tokens:
    /// 0.30 ms, the sgemms too thin; 128: 0.23-0.31). `scores` holds tokens × heads × keys
    /// floats. A q8_0 cache is dequantized for the sgemms (KVCache.floatRows: once per
    /// layer and chunk).
    static func attendBatched(
        queries q: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ cache: KVCache,
        layer: Int, _ s: ChunkShape, window: Int?, softcap: Float?, scores: UnsafeMutablePointer<Float>,
        queryBlock: Int = attentionQueryBlock
    ) {
        let hd = s.headDim, qd = s.queryWidth, kvd = s.kvWidth, p0 = s.start
        let (keys0, values0) = cache.floatRows(layer, count: s.keys)
        // A unit is the query heads one sgemm serves: a KV head's whole group when the
        // rows line up (one KV head), else one query head (rows a query row apart).
        let merged = s.kvHeads == 1
        let rowsPerToken = merged ? s.group : 1, rowStride = merged ? hd : qd
        for unit in 0..<(merged ? 1 : s.heads) {
            let kvOff = (unit / (merged ? 1 : s.group)) * hd
            for t0 in stride(from: 0, to: s.tokens, by: queryBlock) {
                let t1 = min(s.tokens, t0 + queryBlock)
                let lo = firstVisible(p0 + t0, window: window), hi = p0 + t1  // keys [lo, hi)
                let rows = (t1 - t0) * rowsPerToken, n = hi - lo
                let qRows = q + t0 * qd + unit * hd, oRows = out + t0 * qd + unit * hd
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n), Int32(hd), 1,
                    qRows, Int32(rowStride), keys0 + lo * kvd + kvOff, Int32(kvd), 0, scores, Int32(n))
                parallelFor(rows) { r in
                    let position = p0 + t0 + r / rowsPerToken
                    let first = firstVisible(position, window: window) - lo, last = position - lo
                    let row = scores + r * n
                    if let cap = softcap { for j in first...last { row[j] = Layers.softcap(row[j], cap) } }
                    Layers.softmax(row + first, last - first + 1)
                    for j in 0..<first { row[j] = 0 }
                    for j in (last + 1)..<n { row[j] = 0 }
                }
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(hd), Int32(n), 1,
                    scores, Int32(n), values0 + lo * kvd + kvOff, Int32(kvd), 0, oRows, Int32(rowStride))
            }
        }
    }

    /// The final-normed hidden states of the rows whose logits are wanted.
    static func finalNorm(_ x: UnsafePointer<Float>, rows: [Int], weight: [Float], eps: Float) -> [Float] {
        let D = weight.count
        var hidden = [Float](repeating: 0, count: rows.count * D)
        hidden.withUnsafeMutableBufferPointer { hp in
            for (i, r) in rows.enumerated() { normRows(x + r * D, weight, into: hp.baseAddress! + i * D, rows: 1, eps: eps) }
        }
        return hidden
    }

    /// 2 × multiply-adds of the q, k, v and o projections, and of Q Kᵀ and P V over
    /// `attended` keys in every head.
    static func attentionFlops(_ projections: [WeightMatrix], heads: Int, headDim: Int, attended: Int) -> Double {
        Double(2 * projections.reduce(0) { $0 + $1.rows * $1.cols } + 4 * heads * headDim * attended)
    }

    /// Adds the chunk's LM-head share and context lengths to its statistics and hands them
    /// to the caller (when it asked for them).
    static func report(
        _ tokenStats: [TokenStats], to stats: UnsafeMutablePointer<[TokenStats]>?, _ c: ModelConfig,
        _ s: ChunkShape, logitRows: [Int]
    ) {
        guard let stats else { return }
        var all = tokenStats
        all.addHead(vocabularySize: c.vocabularySize, hiddenSize: c.hiddenSize, p0: s.start, logitRows: logitRows)
        stats.pointee += all
    }
}

/// A rotary embedding on `dims` dims of each head starting at `offset`: Gemma rotates
/// the whole head, Spark each of its two parts, RecurrentGemma the first half.
struct RoPEPart {
    let offset: Int
    let dims: Int
    let inverseFrequencies: [Float]

    init(offset: Int = 0, dims: Int, base: Float, scaling: Float = 1) {
        self.offset = offset; self.dims = dims
        inverseFrequencies = Layers.ropeInverseFrequencies(base: base, rotDim: dims, scaling: scaling)
    }
}

extension TokenStats {
    /// One layer's counts for this token: `active` of `total` FFN neurons computed, keys
    /// attended, and FLOPs as done and as the dense model would do them.
    mutating func addLayer(active: Int, of total: Int, attended: Int, flops: Double, denseFlops: Double) {
        ffnActivePerLayer.append(active)
        ffnTotalPerLayer.append(total)
        attendedPerLayer.append(attended)
        self.flops += flops
        flopsDense += denseFlops
    }
}

/// The sections of the forward pass that `sparkchat bench --profile` reports.
enum ForwardSection: String {
    case normsAndEmbedding = "norms+embedding"
    case queryKeyValue = "attention q/k/v"
    case attentionScores = "attention scores"
    case attentionOutput = "attention output"
    case ffn = "ffn"
    case lmHead = "lm head"
    case ffnSelection = "ffn: predictor, selection, M"
    case ffnActiveGateUp = "ffn: active gate+up rows"
    case ffnActiveDown = "ffn: active down rows"
    case ffnPredictor = "ffn: predictor+top-k"
    case ffnGather = "ffn: gathered up+down rows"
}

/// Charges the wall time since the previous lap to a section (kept only while the
/// profile is enabled).
struct SectionTimer {
    private var tick = DecodeProfile.now()
    mutating func lap(_ section: ForwardSection) { tick = DecodeProfile.shared.lap(section.rawValue, since: tick) }
}
