import CKernels
import XCTest

@testable import Inference

/// The dot kernels against the definition: dequantize the weight row and the
/// quantized activation to float and take a plain dot product. Every variant the
/// CPU has (scalar, AVX2, ...) must agree with it.
final class KernelTests: XCTestCase {
    static let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .f32, .f16, .bf16]

    /// Random but valid blocks: random bytes with the fp16 scale fields set to small finite values.
    static func randomRow(_ type: GGMLType, _ n: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = (0..<type.rowBytes(n)!).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        func setHalf(_ off: Int, _ v: Float) {
            let h = Float16(v).bitPattern
            bytes[off] = UInt8(h & 0xFF); bytes[off + 1] = UInt8(h >> 8)
        }
        let blocks = n / type.blockSize
        for b in 0..<blocks {
            let o = b * type.typeSize
            let scale = Float(rng.next() % 1000 + 1) / 20000
            switch type {
            case .q8_0, .q4_0, .q5_0: setHalf(o, scale)
            case .q4_1, .q5_1: setHalf(o, scale); setHalf(o + 2, -scale * 4)
            case .q4_K, .q5_K: setHalf(o, scale); setHalf(o + 2, scale / 2)
            case .q6_K: setHalf(o + 208, scale)
            case .f16:
                for i in 0..<type.blockSize { setHalf(o + 2 * i, Float(Int(rng.next() % 2001) - 1000) / 500) }
            case .bf16:
                let f = Float(Int(rng.next() % 2001) - 1000) / 500
                let bits = f.bitPattern >> 16
                bytes[o] = UInt8(bits & 0xFF); bytes[o + 1] = UInt8(bits >> 8)
            case .f32:
                let f = Float(Int(rng.next() % 2001) - 1000) / 500
                withUnsafeBytes(of: f.bitPattern.littleEndian) { for i in 0..<4 { bytes[o + i] = $0[i] } }
            default: break
            }
        }
        return bytes
    }

    func dequantize(_ type: GGMLType, _ bytes: [UInt8], _ n: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: n)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { ck_dequantize_row(Int32(type.rawValue), src.baseAddress, $0.baseAddress, Int64(n)) }
        }
        return out
    }

    func testDotKernelsMatchDequantizedDefinitionOnEveryCPULevel() {
        let maxLevel = ck_cpu_level()
        defer { ck_set_cpu_level(maxLevel) }
        var rng = SplitMix64(seed: 7)
        for type in KernelTests.types {
            let n = 512
            let x = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 300 }
            var act = [UInt8](repeating: 0, count: ck_activation_bytes(Int32(type.rawValue), Int64(n)))
            act.withUnsafeMutableBytes { ck_quantize_activation(Int32(type.rawValue), x, $0.baseAddress, Int64(n)) }
            let a = Activations.values(type, act, n)
            for _ in 0..<20 {
                let row = KernelTests.randomRow(type, n, &rng)
                let w = dequantize(type, row, n)
                var expected: Double = 0
                var magnitude: Double = 0
                for i in 0..<n { expected += Double(w[i]) * Double(a[i]); magnitude += abs(Double(w[i]) * Double(a[i])) }
                for level in 0...maxLevel {
                    XCTAssertEqual(ck_set_cpu_level(level), level)
                    let got = row.withUnsafeBytes { r in act.withUnsafeBytes { ck_vec_dot(Int32(type.rawValue), r.baseAddress, $0.baseAddress, Int64(n)) } }
                    XCTAssertEqual(
                        Double(got), expected, accuracy: 1e-5 * magnitude + 1e-6,
                        "\(type.name) at CPU level \(level)")
                }
            }
        }
    }

    /// The AVX2 activation quantizers write the scalar ones' bytes exactly (llama.cpp's
    /// arithmetic, which greedy output on a GGUF follows): on random rows, rows whose
    /// largest magnitude appears with both signs, all-zero blocks and exact half-steps
    /// (round half to even). (A NaN input has no defined int8 in either.)
    func testVectorActivationQuantizersEqualScalarByteForByte() {
        let maxLevel = ck_cpu_level()
        defer { ck_set_cpu_level(maxLevel) }
        var rng = SplitMix64(seed: 19)
        let n = 1024
        var rows: [[Float]] = (0..<6).map { _ in (0..<n).map { _ in Float(Int(rng.next() % 20001) - 10000) / 997 } }
        var ties = rows[0]
        ties[5] = 12.5; ties[9] = -12.5; ties[300] = -20; ties[301] = 20  // equal magnitudes, both signs
        ties.replaceSubrange(512..<768, with: [Float](repeating: 0, count: 256))  // a zero block of both formats
        rows.append(ties)
        // Values that land exactly on .5 after scaling by 127/127: x * 1 = k + 0.5.
        rows.append((0..<n).map { i in i % 32 == 0 ? 127 : Float(i % 64) - 31.5 })
        for type in [GGMLType.q8_0, .q6_K] {
            let bytes = ck_activation_bytes(Int32(type.rawValue), Int64(n))
            for (r, x) in rows.enumerated() {
                var out: [[UInt8]] = []
                for level in [0, maxLevel] {
                    XCTAssertEqual(ck_set_cpu_level(level), level)
                    var act = [UInt8](repeating: 0xAA, count: bytes)
                    act.withUnsafeMutableBytes { ck_quantize_activation(Int32(type.rawValue), x, $0.baseAddress, Int64(n)) }
                    out.append(act)
                }
                let firstDifference = zip(out[0], out[1]).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                XCTAssertNil(firstDifference, "\(type.name) activation bytes of row \(r) differ from byte \(firstDifference ?? -1)")
            }
        }
    }

    func testActivationQuantizationIsClose() {
        var rng = SplitMix64(seed: 3)
        let n = 1024
        let x = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 100 }
        for type in [GGMLType.q8_0, .q6_K] {
            var act = [UInt8](repeating: 0, count: ck_activation_bytes(Int32(type.rawValue), Int64(n)))
            act.withUnsafeMutableBytes { ck_quantize_activation(Int32(type.rawValue), x, $0.baseAddress, Int64(n)) }
            let a = Activations.values(type, act, n)
            // int8 with a per-block scale of amax/127: error at most half a step, plus for
            // Q8_0 the scale's rounding to fp16 (as llama.cpp stores it): 127 · d · 2⁻¹¹.
            for i in 0..<n { XCTAssertEqual(a[i], x[i], accuracy: 10.0 / 127 / 2 + 10.0 / 2048 + 1e-4) }
        }
    }

    /// Parallel and batched forms equal the serial kernel bit for bit: speculative
    /// verification (batched) must see exactly the logits plain decoding (serial) sees.
    func testParallelMatvecEqualsSerial() {
        var rng = SplitMix64(seed: 11)
        // 21 activations: two groups through the fused x8 kernels, one through x4, one alone.
        let rows = 1000, n = 512, T = 21
        for type in [GGMLType.q8_0, .q4_K, .q6_K, .q5_0, .q4_0] {
            var w: [UInt8] = []
            for _ in 0..<rows { w += KernelTests.randomRow(type, n, &rng) }
            let ab = ck_activation_bytes(Int32(type.rawValue), Int64(n))
            // T different activations.
            var acts = [UInt8](repeating: 0, count: T * ab)
            for t in 0..<T {
                let x = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 300 }
                acts.withUnsafeMutableBytes { ck_quantize_activation(Int32(type.rawValue), x, $0.baseAddress! + t * ab, Int64(n)) }
            }
            var serial = [Float](repeating: 0, count: T * rows), par = [Float](repeating: 0, count: rows)
            var batched = [Float](repeating: 0, count: T * rows)
            let rb = type.rowBytes(n)!
            ComputePool.shared.setThreads(2)
            w.withUnsafeBytes { wp in
                acts.withUnsafeBytes { ap in
                    for t in 0..<T {
                        serial.withUnsafeMutableBufferPointer {
                            ck_matvec(Int32(type.rawValue), wp.baseAddress, rb, Int64(n), ap.baseAddress! + t * ab, $0.baseAddress! + t * rows, 0, Int64(rows))
                        }
                    }
                    ck_matvec_par(ComputePool.shared.pool, Int32(type.rawValue), wp.baseAddress, rb, Int64(n), ap.baseAddress, &par, Int64(rows))
                    ck_matmul_par(
                        ComputePool.shared.pool, Int32(type.rawValue), wp.baseAddress, rb, Int64(n), ap.baseAddress,
                        ab, Int64(T), &batched, Int64(rows), Int64(rows))
                }
            }
            XCTAssertEqual(Array(serial[0..<rows]), par, type.name)
            for t in 0..<T {
                XCTAssertEqual(Array(batched[(t * rows)..<((t + 1) * rows)]), Array(serial[(t * rows)..<((t + 1) * rows)]), "\(type.name) activation \(t)")
            }
        }
    }

    func testThreadPoolRunsEveryTaskOnce() {
        ComputePool.shared.setThreads(2)
        for n in [1, 2, 3, 17, 100] {
            var hits = [Int](repeating: 0, count: n)
            let lock = NSLock()
            parallelFor(n) { i in
                lock.lock(); hits[i] += 1; lock.unlock()
            }
            XCTAssertEqual(hits, [Int](repeating: 1, count: n))
        }
    }
}
