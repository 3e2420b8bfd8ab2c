import CKernels
import COpenBLAS
import Foundation

/// A weight matrix of `rows` x `cols` (PyTorch's [out, in]) kept in its stored form
/// (quantized or float) inside a mapped file. Multiplying never dequantizes the
/// whole matrix: decode dots rows against int8 activations; prefill converts tiles.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    public let rowBytes: Int

    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer) {
        self.type = type; self.rows = rows; self.cols = cols; self.data = data
        self.rowBytes = type.rowBytes(cols)!
    }

    public var byteCount: Int { rows * rowBytes }
    var ckType: Int32 { Int32(type.rawValue) }

    /// Bytes of the activation vector this matrix dots against.
    public var activationBytes: Int { ck_activation_bytes(ckType, Int64(cols)) }

    /// Dequantizes one row into `out` (cols floats). Used for embedding lookup.
    public func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        ck_dequantize_row(ckType, data + r * rowBytes, out, Int64(cols))
    }
}

/// Matrices the engine makes at load (transposed and re-encoded copies for the sparse
/// FFNs), in memory the caller owns: deallocate `storage` when the matrix is dropped.
extension WeightMatrix {
    /// A rows × cols matrix of `type` (F32, F16, or Q8_0 when cols is a multiple of 32),
    /// filled a row at a time from floats.
    static func build(
        type: GGMLType, rows: Int, cols: Int,
        _ fill: (Int, UnsafeMutablePointer<Float>) -> Void
    ) -> (matrix: WeightMatrix, storage: UnsafeMutableRawPointer) {
        precondition(type == .f32 || type == .f16 || (type == .q8_0 && cols % 32 == 0), "unsupported build type")
        let rowBytes = type.rowBytes(cols)!
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * rowBytes), alignment: 64)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: cols)
        defer { row.deallocate() }
        for r in 0..<rows {
            fill(r, row)
            switch type {
            case .q8_0: ck_quantize_q8_0(row, p + r * rowBytes, Int64(cols))
            case .f16: ck_convert_f32_to_f16(row, p + r * rowBytes, Int64(cols))
            default: (p + r * rowBytes).copyMemory(from: row, byteCount: rowBytes)
            }
        }
        return (WeightMatrix(type: type, rows: rows, cols: cols, data: UnsafeRawPointer(p)), p)
    }

    /// This matrix transposed (cols × rows) as `type`: a down projection's neuron
    /// columns become rows, which the sparse FFNs gather.
    func transposedCopy(as type: GGMLType) -> (matrix: WeightMatrix, storage: UnsafeMutableRawPointer) {
        let R = rows, C = cols
        var full = [Float](repeating: 0, count: R * C)
        full.withUnsafeMutableBufferPointer { fp in for r in 0..<R { row(r, into: fp.baseAddress! + r * C) } }
        return WeightMatrix.build(type: type, rows: C, cols: R) { i, out in for r in 0..<R { out[r] = full[r * C + i] } }
    }
}

/// Scratch buffers reused across calls so the token loop never allocates.
final class ScratchBuffer {
    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int
    init(_ bytes: Int = 1 << 16) {
        capacity = max(bytes, 64)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }
    deinit { pointer.deallocate() }
    func ensure(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > capacity {
            pointer.deallocate()
            capacity = max(bytes, capacity * 2)
            pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        return pointer
    }
    func floats(_ n: Int) -> UnsafeMutablePointer<Float> { ensure(n * 4).assumingMemoryBound(to: Float.self) }
}

/// y = x Wᵀ for T input rows: the one place weights are multiplied.
final class LinearKernel {
    /// Products of at least this many rows go through dequantized tiles and sgemm
    /// (`RuntimeOptions.sgemmMinimumRows`, set by the owning model).
    var sgemmMinimumRows = RuntimeOptions().sgemmMinimumRows
    /// Sees (and may replace) every product's input: set only while the CushionCache
    /// search measures activations or static per-tensor int8 is simulated; nil otherwise,
    /// so decode pays one nil check per product.
    var inputTap: LinearInputTap?
    private let act = ScratchBuffer()
    private let tile = ScratchBuffer()

    /// x: T x cols (row-major), y: T x rows.
    func apply(_ w: WeightMatrix, _ input: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>) {
        let x = inputTap?.input(of: w, input, rows: T) ?? input
        let pool = ComputePool.shared.pool
        if T < sgemmMinimumRows {
            let (a, ab) = quantize(x, T, for: w)
            product(w, quantized: a, ab, T, y)
            return
        }
        // Tiles of rows small enough to stay in cache-friendly memory (~8 MB of floats).
        let tileRows = max(64, min(w.rows, (8 << 20) / (4 * w.cols)))
        var r0 = 0
        while r0 < w.rows {
            let n = min(tileRows, w.rows - r0)
            let buf = tile.floats(n * w.cols)
            ck_dequantize_rows_par(pool, w.ckType, w.data, w.rowBytes, Int64(w.cols), Int64(r0), Int64(n), buf)
            // y[t, r0..r0+n] = x[t, :] · buf[r, :]
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(n), Int32(w.cols),
                1, x, Int32(w.cols), buf, Int32(w.cols), 0, y + r0, Int32(w.rows))
            r0 += n
        }
    }

    /// y[i] = x W[i]ᵀ for products of one input (q, k and v; gate and up). Below the sgemm
    /// threshold, weights dotted against the same activation format share one quantized
    /// copy of the input instead of quantizing it once each; the products are the same.
    func apply(_ ws: [WeightMatrix], _ input: UnsafePointer<Float>, _ T: Int, _ ys: [UnsafeMutablePointer<Float>]) {
        precondition(ws.count == ys.count)
        guard let first = ws.first, inputTap == nil, T < sgemmMinimumRows,
            ws.allSatisfy({ ck_activation_type($0.ckType) == ck_activation_type(first.ckType) && $0.cols == first.cols })
        else {
            for (w, y) in zip(ws, ys) { apply(w, input, T, y) }
            return
        }
        let (a, ab) = quantize(input, T, for: first)
        for (w, y) in zip(ws, ys) { product(w, quantized: a, ab, T, y) }
    }

    /// T input rows quantized for `w`'s dot kernels into the scratch buffer, and the bytes per row.
    private func quantize(_ x: UnsafePointer<Float>, _ T: Int, for w: WeightMatrix) -> (UnsafeMutableRawPointer, Int) {
        let ab = w.activationBytes
        let a = act.ensure(ab * T)
        for t in 0..<T { ck_quantize_activation(w.ckType, x + t * w.cols, a + t * ab, Int64(w.cols)) }
        return (a, ab)
    }

    /// The quantized-activation product (T rows already quantized for `w` in `a`).
    private func product(_ w: WeightMatrix, quantized a: UnsafeMutableRawPointer, _ ab: Int, _ T: Int, _ y: UnsafeMutablePointer<Float>) {
        let pool = ComputePool.shared.pool
        if T == 1 {
            ck_matvec_par(pool, w.ckType, w.data, w.rowBytes, Int64(w.cols), a, y, Int64(w.rows))
        } else {
            ck_matmul_par(pool, w.ckType, w.data, w.rowBytes, Int64(w.cols), a, ab, Int64(T), y, Int64(w.rows), Int64(w.rows))
        }
    }

    /// Logits of `count` final-normed hidden rows through an LM head: the whole vocabulary,
    /// or only the `vocabulary` ids in that order (the sliced head self-speculative
    /// drafting reads). count × width floats.
    func logits(_ head: WeightMatrix, hidden: [Float], count: Int, vocabulary: [Int32]?) -> [Float] {
        let D = head.cols
        let width = vocabulary?.count ?? head.rows
        var out = [Float](repeating: 0, count: count * width)
        guard count > 0 else { return out }
        hidden.withUnsafeBufferPointer { hp in
            out.withUnsafeMutableBufferPointer { op in
                if let ids = vocabulary {
                    ids.withUnsafeBufferPointer { ip in
                        for r in 0..<count {
                            applyRows(head, hp.baseAddress! + r * D, rows: ip.baseAddress!, count: ids.count, op.baseAddress! + r * width)
                        }
                    }
                } else {
                    var timer = SectionTimer()
                    apply(head, hp.baseAddress!, count, op.baseAddress!)
                    timer.lap(.lmHead)
                }
            }
        }
        return out
    }

    /// y[i] = row idx[i] · x, for a single input (sparse FFN gathers).
    func applyRows(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, rows idx: UnsafePointer<Int32>, count: Int,
        _ y: UnsafeMutablePointer<Float>
    ) {
        let (a, _) = quantize(x, 1, for: w)
        ck_matvec_rows_par(ComputePool.shared.pool, w.ckType, w.data, w.rowBytes, Int64(w.cols), a, idx, Int64(count), y)
    }
}
