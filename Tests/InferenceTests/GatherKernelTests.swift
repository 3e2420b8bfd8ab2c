import CKernels
import XCTest

@testable import Inference

/// The gathered-row kernels of the sparse FFNs against plain computations.
final class GatherKernelTests: XCTestCase {
    func pseudoRandom(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 1000
        }
    }

    func quantizedQ8(_ x: [Float], rows: Int, cols: Int) -> [UInt8] {
        let rb = GGMLType.q8_0.rowBytes(cols)!
        var out = [UInt8](repeating: 0, count: rows * rb)
        out.withUnsafeMutableBytes { o in
            for r in 0..<rows { ck_quantize_q8_0(Array(x[(r * cols)..<((r + 1) * cols)]), o.baseAddress! + r * rb, Int64(cols)) }
        }
        return out
    }

    /// Gate and up rows gathered in one pass give exactly the two single-matrix gathers.
    func testTwoMatrixRowGatherEqualsTwoGathers() {
        ComputePool.shared.setThreads(2)
        let rows = 300, cols = 128, rb = GGMLType.q8_0.rowBytes(cols)!
        let w1 = quantizedQ8(pseudoRandom(rows * cols, seed: 1), rows: rows, cols: cols)
        let w2 = quantizedQ8(pseudoRandom(rows * cols, seed: 2), rows: rows, cols: cols)
        let x = pseudoRandom(cols, seed: 3)
        let idx: [Int32] = stride(from: 3, to: rows, by: 7).map(Int32.init)
        var act = [UInt8](repeating: 0, count: Int(ck_activation_bytes(Int32(GGMLType.q8_0.rawValue), Int64(cols))))
        ck_quantize_activation(Int32(GGMLType.q8_0.rawValue), x, &act, Int64(cols))
        var y1 = [Float](repeating: 0, count: idx.count), y2 = y1, e1 = y1, e2 = y1
        let pool = ComputePool.shared.pool, t = Int32(GGMLType.q8_0.rawValue)
        ck_matvec_rows2_par(pool, t, w1, w2, rb, Int64(cols), act, idx, Int64(idx.count), &y1, &y2)
        ck_matvec_rows_par(pool, t, w1, rb, Int64(cols), act, idx, Int64(idx.count), &e1)
        ck_matvec_rows_par(pool, t, w2, rb, Int64(cols), act, idx, Int64(idx.count), &e2)
        XCTAssertEqual(y1, e1)
        XCTAssertEqual(y2, e2)
    }

    /// y = Σ cᵢ · row(idxᵢ) over Q8_0 rows (four at a time, then the remainder) equals the
    /// same sum over the dequantized rows.
    func testQ8AxpyRowsEqualsDequantizedSum() {
        ComputePool.shared.setThreads(2)
        let rows = 200, cols = 96, rb = GGMLType.q8_0.rowBytes(cols)!
        let w = quantizedQ8(pseudoRandom(rows * cols, seed: 4), rows: rows, cols: cols)
        for count in [1, 5, 70, 131] {
            let idx: [Int32] = (0..<count).map { Int32(($0 * 37) % rows) }
            let coef = pseudoRandom(count, seed: UInt64(count))
            var y = [Float](repeating: 0, count: cols)
            var scratch = [Float](repeating: 0, count: 2 * cols)
            ck_axpy_rows_par(
                ComputePool.shared.pool, Int32(GGMLType.q8_0.rawValue), w, rb, Int64(cols), idx, coef,
                Int64(count), &y, &scratch)
            var want = [Double](repeating: 0, count: cols)
            var row = [Float](repeating: 0, count: cols)
            w.withUnsafeBytes { wp in
                for (k, i) in idx.enumerated() {
                    ck_dequantize_row(Int32(GGMLType.q8_0.rawValue), wp.baseAddress! + Int(i) * rb, &row, Int64(cols))
                    for j in 0..<cols { want[j] += Double(coef[k]) * Double(row[j]) }
                }
            }
            for j in 0..<cols { XCTAssertEqual(Double(y[j]), want[j], accuracy: 1e-4, "count \(count) column \(j)") }
        }
    }
}
