import CKernels
import Foundation

/// "Speed twins": random-weight models with a real model's shapes and quantized types,
/// built in memory (no file) with a fixed seed, through the same model classes and
/// kernels that loaded files use. They exist to time decoding at the scale Spark was
/// made for; their outputs mean nothing (perplexity is meaningless here, only speed).
///
///   gemma2-2b              dense Gemma 2 2B: d 2304, 26 layers, FFN 9216, 8 query / 4 KV
///                          heads of 256, vocab 256000, window 4096 on every other layer,
///                          soft-caps 50 (scores) and 30 (logits)
///   gemma2-2b-spark        the same shapes as a Spark Transformer: Spark FFN (predictor over
///                          the first r = 1024 dims, statistical top-k at 8%), Spark attention
///                          (r_a = 128 dims pick at most 256 keys), QK-norm, no soft-caps
///   gemma2-2b-spark-wide   Spark with FFN 13824 = 1.5 × 9216: the dense twin's parameter
///                          count (two FFN matrices instead of three), as the paper keeps it
///
/// Types, as llama.cpp's Q4_K_M stores Gemma 2 2B's bulk: Q4_K for every layer matrix
/// (the Spark predictor and up included), Q6_K for the tied embedding / LM head. The Spark
/// FFN's neuron-major copy of down (the rows its gather reads) is Q8_0, made at build
/// time from the Q4_K down exactly as a loader would make it.
///
/// Weights are scaled so that a layer maps unit-variance inputs to unit-variance outputs
/// (std 1/√cols per matrix, embedding std 1/√d before Gemma's √d scale, norms 1): the
/// predictor's pre-activations are then ≈ N(0, 1), so statistical top-k keeps ≈ 8%, and
/// attention scores have unit spread, so softmax and key top-k see ordinary inputs.
public final class SpeedTwin {
    public static let names = ["gemma2-2b", "gemma2-2b-spark", "gemma2-2b-spark-wide"]

    public let name: String
    public let model: LanguageModel
    /// What the weights are stored as, in words.
    public let quantization: String
    public let parameterCount: Int
    /// Weight bytes a decoded token reads whatever its activations: the layer matrices a
    /// dense token reads (Spark: attention and the predictor), and the LM head.
    public let layerStreamBytes: Int
    public let lmHeadBytes: Int
    /// Spark FFN: bytes of one active neuron's up row and down row (nil for dense).
    public let neuronRowBytes: (up: Int, down: Int)?
    /// Spark: predictor bytes per token (all layers), part of `layerStreamBytes`.
    public let predictorBytes: Int
    /// Dense: FFN bytes per token (all layers), part of `layerStreamBytes`.
    public let ffnBytes: Int

    /// Bytes the Spark FFN gathers for one token with these statistics (0 for dense).
    public func gatherBytes(_ s: TokenStats) -> Int {
        guard let r = neuronRowBytes else { return 0 }
        return s.ffnActivePerLayer.reduce(0) { $0 + $1 * (r.up + r.down) }
    }

    /// Bytes of the KV cache a decoded token with these statistics reads, if every key
    /// and value it uses is read once: dense, all of each visible key and value; Spark,
    /// the first r_a dims of every visible key, then the rest of the picked keys and
    /// their values (per query head: a group's heads pick different keys).
    public func cacheBytes(_ s: TokenStats) -> Int {
        let c = model.config, kvd = c.kvHeadCount * c.headDim
        let sparkRank = c.architecture == .spark ? SpeedTwin.sparkSettings.attnRank : nil
        return s.attendedPerLayer.enumerated().reduce(0) { sum, e in
            let (li, picked) = e
            guard let ra = sparkRank else { return sum + picked * kvd * 4 * 2 }
            let visible = TransformerSteps.visibleKeys(s.contextLength - 1, window: c.attentionWindow(layer: li))
            return sum + visible * c.kvHeadCount * ra * 4 + c.headCount * picked * (2 * c.headDim - ra) * 4
        }
    }

    private init(
        name: String, model: LanguageModel, quantization: String, parameterCount: Int, layerStreamBytes: Int,
        lmHeadBytes: Int, neuronRowBytes: (up: Int, down: Int)?, predictorBytes: Int, ffnBytes: Int
    ) {
        self.name = name; self.model = model; self.quantization = quantization; self.parameterCount = parameterCount
        self.layerStreamBytes = layerStreamBytes; self.lmHeadBytes = lmHeadBytes; self.neuronRowBytes = neuronRowBytes
        self.predictorBytes = predictorBytes; self.ffnBytes = ffnBytes
    }

    /// Spark hyper-parameters of the Spark twins.
    static let sparkSettings = SparkModel.Settings(ffnRank: 1024, ffnFraction: 0.08, attnRank: 128, attnTopK: 256)

    /// Builds a twin by name (`names`). `layers` overrides the layer count (tests);
    /// `vocabulary` the vocabulary size (tests; a multiple of nothing in particular).
    public static func build(_ name: String, layers: Int? = nil, vocabulary: Int? = nil, seed: UInt64 = 2306) throws -> SpeedTwin {
        let spark: Bool, ffn: Int
        switch name {
        case "gemma2-2b": spark = false; ffn = 9216
        case "gemma2-2b-spark": spark = true; ffn = 9216
        case "gemma2-2b-spark-wide": spark = true; ffn = 13824
        default: throw EngineError.unsupported("speed twin \(name) (known: \(names.joined(separator: ", ")))")
        }
        let n = layers ?? 26
        guard n >= 1, n <= 64 else { throw EngineError.format("speed twin: layer count \(n) out of range 1...64") }
        var c = ModelConfig(
            architecture: spark ? .spark : .gemma2, vocabularySize: vocabulary ?? 256_000, hiddenSize: 2304,
            intermediateSize: ffn, layerCount: n, headCount: 8, kvHeadCount: 4, headDim: 256, contextLength: 8192,
            layerKinds: (0..<n).map { $0 % 2 == 0 ? .local : .global }, queryScale: 1 / Float(256).squareRoot(),
            embeddingScale: Float(2304).squareRoot())
        guard c.vocabularySize >= 1 else { throw EngineError.format("speed twin: empty vocabulary") }
        c.slidingWindow = 4096
        c.usesPostNorms = true
        if spark {
            c.usesQKNorm = true
        } else {
            c.attentionSoftcap = 50
            c.finalSoftcap = 30
        }
        let maker = RandomMatrices(seed: seed)
        return spark ? buildSpark(name, c, maker) : buildDense(name, c, maker)
    }

    private static func buildDense(_ name: String, _ c: ModelConfig, _ m: RandomMatrices) -> SpeedTwin {
        let d = c.hiddenSize, f = c.intermediateSize, qd = c.headCount * c.headDim, kvd = c.kvHeadCount * c.headDim
        let ones = [Float](repeating: 1, count: d)
        let emb = m.matrix(.q6_K, rows: c.vocabularySize, cols: d, std: 1 / Float(d).squareRoot())
        let layers = (0..<c.layerCount).map { _ in
            GemmaLayerWeights(
                attnNorm: ones, q: m.matrix(.q4_K, rows: qd, cols: d), k: m.matrix(.q4_K, rows: kvd, cols: d),
                v: m.matrix(.q4_K, rows: kvd, cols: d), o: m.matrix(.q4_K, rows: d, cols: qd), qNorm: nil, kNorm: nil,
                postAttnNorm: ones, ffnNorm: ones, gate: m.matrix(.q4_K, rows: f, cols: d), up: m.matrix(.q4_K, rows: f, cols: d),
                down: m.matrix(.q4_K, rows: d, cols: f), postFfnNorm: ones)
        }
        let weights = GemmaWeights(embedding: emb, lmHead: emb, finalNorm: ones, layers: layers, storage: [m.storage])
        let ffnBytes = layers.reduce(0) { $0 + $1.gate.byteCount + $1.up.byteCount + $1.down.byteCount }
        let attnBytes = layers.reduce(0) { $0 + $1.q.byteCount + $1.k.byteCount + $1.v.byteCount + $1.o.byteCount }
        return SpeedTwin(
            name: name, model: GemmaModel(config: c, weights: weights),
            quantization: "Q4_K layers, Q6_K embedding/LM head (random, in memory)",
            parameterCount: c.vocabularySize * d + c.layerCount * (2 * qd * d + 2 * kvd * d + 3 * d * f),
            layerStreamBytes: attnBytes + ffnBytes, lmHeadBytes: emb.byteCount, neuronRowBytes: nil, predictorBytes: 0,
            ffnBytes: ffnBytes)
    }

    private static func buildSpark(_ name: String, _ c: ModelConfig, _ m: RandomMatrices) -> SpeedTwin {
        let s = sparkSettings, d = c.hiddenSize, f = c.intermediateSize, r = s.ffnRank
        let qd = c.headCount * c.headDim, kvd = c.kvHeadCount * c.headDim
        let ones = [Float](repeating: 1, count: d), headOnes = [Float](repeating: 1, count: c.headDim)
        let emb = m.matrix(.q6_K, rows: c.vocabularySize, cols: d, std: 1 / Float(d).squareRoot())
        let layers = (0..<c.layerCount).map { _ in
            let down = m.matrix(.q4_K, rows: d, cols: f)
            return SparkModel.LayerWeights(
                attnNorm: ones, q: m.matrix(.q4_K, rows: qd, cols: d), k: m.matrix(.q4_K, rows: kvd, cols: d),
                v: m.matrix(.q4_K, rows: kvd, cols: d), o: m.matrix(.q4_K, rows: d, cols: qd), qNorm: headOnes, kNorm: headOnes,
                postAttnNorm: ones, ffnNorm: ones, predictor: m.matrix(.q4_K, rows: f, cols: r),
                up: m.matrix(.q4_K, rows: f, cols: d - r), down: down, downByNeuron: m.transposed(down, as: .q8_0),
                postFfnNorm: ones)
        }
        let model = SparkModel(
            config: c, spark: s, embedding: emb, finalNorm: ones, layers: layers, storage: [m.storage])
        let l0 = layers[0]
        let predictorBytes = layers.reduce(0) { $0 + $1.predictor.byteCount }
        let attnBytes = layers.reduce(0) { $0 + $1.q.byteCount + $1.k.byteCount + $1.v.byteCount + $1.o.byteCount }
        return SpeedTwin(
            name: name, model: model,
            quantization: "Q4_K layers, Q6_K embedding/LM head, Q8_0 neuron-major down copy (random, in memory)",
            parameterCount: c.vocabularySize * d + c.layerCount * (2 * qd * d + 2 * kvd * d + 2 * d * f),
            layerStreamBytes: attnBytes + predictorBytes, lmHeadBytes: emb.byteCount,
            neuronRowBytes: (l0.up.rowBytes, l0.downByNeuron.rowBytes), predictorBytes: predictorBytes, ffnBytes: 0)
    }

    /// Puts `depth` positions of random keys and values (≈ N(0, 1) per element, like
    /// QK-normed keys) into a fresh transformer state, as if a prompt had been run:
    /// decode at depth reads the cache the same way whatever wrote it, and filling it
    /// by prefill at these shapes would take minutes per twin on a small CPU.
    public static func fillContext(_ state: ModelState, depth: Int, seed: UInt64 = 4096) throws {
        guard let cache = state as? KVCache, cache.type == .f32 else {
            throw EngineError.unsupported("speed twins fill float32 transformer caches only")
        }
        guard cache.length == 0, depth >= 0, depth <= cache.capacity else {
            throw EngineError.format("speed twin: cannot fill \(depth) positions into a cache of \(cache.capacity) holding \(cache.length)")
        }
        guard depth > 0 else { return }
        let width = cache.width
        for li in cache.layers.indices {
            cache.reserve(li, upTo: depth)
            guard depth <= cache.layers[li].ringSize else { throw EngineError.format("speed twin: depth \(depth) exceeds layer \(li)'s ring") }
        }
        parallelFor(cache.layers.count) { li in
            for p in 0..<depth {
                let slot = cache.slot(li, p), row = Int64(li * 2 * depth + 2 * p)
                _ = ck_fill_random_rows(Int32(GGMLType.f32.rawValue), cache.keys(li, slot: slot), width * 4, Int64(width), row, 1, seed, 1)
                _ = ck_fill_random_rows(Int32(GGMLType.f32.rawValue), cache.values(li, slot: slot), width * 4, Int64(width), row + 1, 1, seed, 1)
                cache.refreshKeyPrefix(li, slot: slot)
            }
        }
        cache.advance(by: depth)
    }
}

/// Allocates random matrices (each with its own seed, in build order) and owns their memory.
private final class RandomMatrices {
    final class Storage {
        var blocks: [UnsafeMutableRawPointer] = []
        deinit { blocks.forEach { $0.deallocate() } }
    }
    let storage = Storage()
    private var seed: UInt64
    init(seed: UInt64) { self.seed = seed }

    /// rows × cols of `type`, std `std` (default 1/√cols: unit-variance outputs).
    func matrix(_ type: GGMLType, rows: Int, cols: Int, std: Float? = nil) -> WeightMatrix {
        seed &+= 0x9E37_79B9_7F4A_7C15
        let rowBytes = type.rowBytes(cols)!
        let p = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
        storage.blocks.append(p)
        let sigma = std ?? 1 / Float(cols).squareRoot(), s = seed
        let chunk = 256, chunks = (rows + chunk - 1) / chunk
        parallelFor(chunks) { i in
            let r0 = i * chunk, n = min(chunk, rows - r0)
            let rc = ck_fill_random_rows(Int32(type.rawValue), p + r0 * rowBytes, rowBytes, Int64(cols), Int64(r0), Int64(n), s, sigma)
            precondition(rc == 0, "speed twin: cannot fill \(type.name) rows of \(cols)")
        }
        return WeightMatrix(type: type, rows: rows, cols: cols, data: UnsafeRawPointer(p))
    }

    /// `w` transposed as `type` (a loader's neuron-major copy of a down projection).
    /// (WeightMatrix.transposedCopy does the same in one thread with strided reads: ~1 s
    /// per layer at these shapes, here dequantized, transposed in tiles and re-encoded
    /// on the pool.)
    func transposed(_ w: WeightMatrix, as type: GGMLType) -> WeightMatrix {
        precondition(type == .q8_0 && w.rows % 32 == 0, "speed twin: Q8_0 copies of widths divisible by 32 only")
        let R = w.rows, C = w.cols, rowBytes = type.rowBytes(R)!
        let full = OwnedFloats(count: R * C), flipped = OwnedFloats(count: R * C)
        let p = UnsafeMutableRawPointer.allocate(byteCount: C * rowBytes, alignment: 64)
        storage.blocks.append(p)
        let src = full.pointer, dst = flipped.pointer
        parallelFor(R) { r in w.row(r, into: src + r * C) }
        let tile = 64, tiles = (C + tile - 1) / tile
        parallelFor(tiles) { t in
            let c0 = t * tile, c1 = min(C, c0 + tile)
            for r0 in stride(from: 0, to: R, by: tile) {
                for c in c0..<c1 { for r in r0..<min(R, r0 + tile) { dst[c * R + r] = src[r * C + c] } }
            }
        }
        parallelFor(C) { c in ck_quantize_q8_0(dst + c * R, p + c * rowBytes, Int64(R)) }
        return WeightMatrix(type: type, rows: C, cols: R, data: UnsafeRawPointer(p))
    }
}
