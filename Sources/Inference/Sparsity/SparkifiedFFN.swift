import CKernels
import Foundation

/// The FFN of a dense Gemma checkpoint made activation-sparse by a sparkify overlay
/// (SparkifyOverlay; the fit and its reasons are in scripts/spark/sparkify.py):
///
///   ĝ = A (B x)                          the low-rank gate predictor (rank r ≪ d)
///   s = |gelu(ĝ) − γ| ⊙ σ,  θ = mean(s) + std(s)·z,  S = {i : sᵢ > θ}
///   y = Σ_{i∈S} (gelu(gateᵢ·x) − γᵢ)(upᵢ·x) downᵀᵢ  +  M x
///
/// Decode reads only the gate and up rows of S and the down columns of S (rows of a
/// transposed copy made at load), plus A, B and M. Prefill computes the same
/// function with dense matrix products and a mask (the FLOPs it reports are the sparse
/// path's). With a block-quantized base, A, B, M and the transposed down are quantized
/// to Q8_0 at load (fewer bytes per token); with a float base they stay float, so the
/// result can be compared with the float reference.
final class SparkifiedFFN {
    struct Layer {
        let a: WeightMatrix, b: WeightMatrix, m: WeightMatrix
        let idle: [Float], upScale: [Float], z: Float
        /// The base's down projection transposed (F × D): neuron i's column as row i.
        let downT: WeightMatrix
    }
    let layers: [Layer]
    let fraction: Double
    let rank: Int
    private var storage: [UnsafeMutableRawPointer] = []
    /// Float overlay matrices point into this map: it lives as long as the FFN.
    private let file: SafetensorsFile
    private let linear = LinearKernel()
    private let scratch = ScratchBuffer()
    private var indices: [Int32] = []
    /// gelu(x) = ck_geglu_f32(x, ones): the vectorised GELU (scalar tanh costs ~20 ns).
    private let ones: [Float]

    /// `downs`: the base model's down projections (D × F), one per layer.
    init(overlay: SparkifyOverlay, config: ModelConfig, downs: [WeightMatrix], quantize: Bool) throws {
        fraction = overlay.fraction
        ones = [Float](repeating: 1, count: config.intermediateSize)
        file = overlay.file
        rank = overlay.rank
        var storage: [UnsafeMutableRawPointer] = []
        func stored(_ w: WeightMatrix) -> WeightMatrix {
            guard quantize, w.cols % 32 == 0 else { return w }
            let rowBytes = GGMLType.q8_0.rowBytes(w.cols)!
            let p = UnsafeMutableRawPointer.allocate(byteCount: w.rows * rowBytes, alignment: 64)
            storage.append(p)
            var row = [Float](repeating: 0, count: w.cols)
            for r in 0..<w.rows {
                w.row(r, into: &row)
                ck_quantize_q8_0(row, p + r * rowBytes, Int64(w.cols))
            }
            return WeightMatrix(type: .q8_0, rows: w.rows, cols: w.cols, data: UnsafeRawPointer(p))
        }
        func transposed(_ w: WeightMatrix) -> WeightMatrix {
            let D = w.rows, F = w.cols
            var full = [Float](repeating: 0, count: D * F)
            full.withUnsafeMutableBufferPointer { fp in for r in 0..<D { w.row(r, into: fp.baseAddress! + r * F) } }
            let type: GGMLType = quantize && D % 32 == 0 ? .q8_0 : .f32
            let rowBytes = type.rowBytes(D)!
            let p = UnsafeMutableRawPointer.allocate(byteCount: F * rowBytes, alignment: 64)
            storage.append(p)
            var column = [Float](repeating: 0, count: D)
            for i in 0..<F {
                for r in 0..<D { column[r] = full[r * F + i] }
                if type == .q8_0 {
                    ck_quantize_q8_0(column, p + i * rowBytes, Int64(D))
                } else {
                    column.withUnsafeBytes { (p + i * rowBytes).copyMemory(from: $0.baseAddress!, byteCount: rowBytes) }
                }
            }
            return WeightMatrix(type: type, rows: F, cols: D, data: UnsafeRawPointer(p))
        }
        guard downs.count == config.layerCount else { throw EngineError.format("sparkify: base has \(downs.count) FFN layers") }
        layers = try zip(overlay.layers(for: config), downs).map { o, down in
            Layer(a: stored(o.predictorA), b: stored(o.predictorB), m: stored(o.droppedMap),
                  idle: o.idleActivation, upScale: o.upScale, z: o.thresholdZ, downT: transposed(down))
        }
        self.storage = storage
    }

    deinit { storage.forEach { $0.deallocate() } }


    /// FLOPs of one token in one layer with `active` neurons (2 × multiply-adds).
    func flops(layer li: Int, active: Int, hidden D: Int) -> Double {
        let l = layers[li]
        return Double(2 * (l.b.rows * l.b.cols + l.a.rows * l.a.cols + D * D) + 2 * 3 * D * active)
    }

    /// The active set of `T` inputs: mask[t·F + i] = 1 where neuron i is computed.
    /// Returns the active count per input. The predictor runs through the same kernels
    /// for one input or many, so decode and prefill choose the same neurons.
    func select(layer li: Int, x: UnsafePointer<Float>, _ T: Int, mask: UnsafeMutablePointer<Float>) -> [Int] {
        let l = layers[li], F = l.a.rows, r = l.b.rows
        let p = scratch.floats(T * (r + F))
        let predicted = p + T * r
        for t in 0..<T {
            // One input at a time: the int8 path for every T (sgemm's rounding would
            // make prefill pick differently from decode near the threshold).
            linear.apply(l.b, x + t * l.b.cols, 1, p + t * r)
            linear.apply(l.a, p + t * r, 1, predicted + t * F)
        }
        var counts = [Int](repeating: 0, count: T)
        l.idle.withUnsafeBufferPointer { idle in
            l.upScale.withUnsafeBufferPointer { scale in
                for t in 0..<T {
                    let s = predicted + t * F
                    ck_geglu_f32(s, ones, Int64(F))
                    var sum = 0.0, sumSq = 0.0
                    for i in 0..<F {
                        let v = abs(s[i] - idle[i]) * scale[i]
                        s[i] = v
                        sum += Double(v); sumSq += Double(v) * Double(v)
                    }
                    let mean = sum / Double(F)
                    let std = max(0, sumSq / Double(F) - mean * mean).squareRoot()
                    let theta = Float(mean + std * Double(l.z))
                    var n = 0
                    for i in 0..<F {
                        let keep = s[i] > theta
                        mask[t * F + i] = keep ? 1 : 0
                        n += keep ? 1 : 0
                    }
                    counts[t] = n
                }
            }
        }
        return counts
    }

    /// Prefill: `gate` and `up` hold the dense gate·x and up·x (T × F); on return `gate`
    /// holds the masked, idle-shifted activations and `out` (T × D) the layer's output.
    func runBatch(layer li: Int, x: UnsafePointer<Float>, _ T: Int, gate: UnsafeMutablePointer<Float>,
                  up: UnsafePointer<Float>, down: WeightMatrix, out: UnsafeMutablePointer<Float>) -> [Int] {
        let l = layers[li], F = l.a.rows, D = down.rows
        let mask = UnsafeMutablePointer<Float>.allocate(capacity: T * F)
        defer { mask.deallocate() }
        let counts = select(layer: li, x: x, T, mask: mask)
        ck_geglu_f32(gate, up, Int64(T * F))
        for t in 0..<T {
            for i in 0..<F {
                let j = t * F + i
                gate[j] = mask[j] != 0 ? gate[j] - l.idle[i] * up[j] : 0
            }
        }
        linear.apply(down, gate, T, out)
        let mx = UnsafeMutablePointer<Float>.allocate(capacity: T * D)
        defer { mx.deallocate() }
        linear.apply(l.m, x, T, mx)
        for j in 0..<(T * D) { out[j] += mx[j] }
        return counts
    }

    /// Decode: one input, only the active rows read (the down columns as rows of the
    /// transposed copy, Q8_0 for a quantized base). Returns the active count.
    func runToken(layer li: Int, x: UnsafePointer<Float>, gate: WeightMatrix, up: WeightMatrix,
                  out: UnsafeMutablePointer<Float>) -> Int {
        let l = layers[li], F = l.a.rows, downT = l.downT, D = downT.cols
        let mask = UnsafeMutablePointer<Float>.allocate(capacity: F)
        defer { mask.deallocate() }
        let n = select(layer: li, x: x, 1, mask: mask)[0]
        indices.removeAll(keepingCapacity: true)
        for i in 0..<F where mask[i] != 0 { indices.append(Int32(i)) }
        let values = UnsafeMutablePointer<Float>.allocate(capacity: 2 * max(n, 1) + D)
        defer { values.deallocate() }
        let g = values, u = values + n, mx = values + 2 * n
        linear.apply(l.m, x, 1, mx)
        if n > 0 {
            indices.withUnsafeBufferPointer { ip in
                linear.applyRows(gate, x, rows: ip.baseAddress!, count: n, g)
                linear.applyRows(up, x, rows: ip.baseAddress!, count: n, u)
                ck_geglu_f32(g, u, Int64(n))
                for k in 0..<n { g[k] -= l.idle[Int(ip[k])] * u[k] }
                let s = scratch.floats(ComputePool.shared.threads * D)
                ck_axpy_rows_par(ComputePool.shared.pool, Int32(downT.type.rawValue), downT.data, downT.rowBytes, Int64(D),
                                 ip.baseAddress!, g, Int64(n), out, s)
            }
        } else {
            out.initialize(repeating: 0, count: D)
        }
        for j in 0..<D { out[j] += mx[j] }
        return n
    }
}
