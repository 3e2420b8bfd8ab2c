import CKernels
import Foundation
import XCTest

@testable import Inference

/// Our dequantizers and dot kernels against the `gguf` Python package, on blocks
/// committed in Tests/Fixtures/dequant/gguf_dequantize.json (made by
/// scripts/fixtures/dequant_reference.py): random bytes with sane fp16 scales,
/// vectors quantized by gguf-py, and the special values of the float types.
final class DequantizationTests: XCTestCase {
    struct Case { let type: GGMLType; let kind: String; let count: Int; let bytes: [UInt8]; let values: [Float] }

    static func loadCases() throws -> [Case] {
        guard let root = try Fixtures.json("dequant/gguf_dequantize.json") as? [String: Any],
            let types = root["types"] as? [[String: Any]]
        else { throw XCTSkip("bad fixture") }
        var out: [Case] = []
        for t in types {
            let id = try XCTUnwrap(t["id"] as? Int)
            let type = try XCTUnwrap(GGMLType(rawValue: UInt32(id)), "type id \(id)")
            XCTAssertEqual(type.blockSize, t["block_size"] as? Int, type.name)
            XCTAssertEqual(type.typeSize, t["type_size"] as? Int, type.name)
            for c in try XCTUnwrap(t["cases"] as? [[String: Any]]) {
                let bytes = [UInt8](try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(c["bytes"] as? String))))
                let raw = [UInt8](try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(c["values"] as? String))))
                let values = stride(from: 0, to: raw.count, by: 4).map { i in
                    Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
                }
                out.append(
                    Case(
                        type: type, kind: try XCTUnwrap(c["kind"] as? String), count: try XCTUnwrap(c["count"] as? Int),
                        bytes: bytes, values: values))
            }
        }
        return out
    }

    func dequantize(_ type: GGMLType, _ bytes: [UInt8], _ n: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: n)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { ck_dequantize_row(Int32(type.rawValue), src.baseAddress, $0.baseAddress, Int64(n)) }
        }
        return out
    }

    /// Bit-exact: every type's dequantization is one multiply (and one add) per value
    /// in float32, in the same order as gguf-py's numpy code, so there is no rounding
    /// difference to allow for. NaNs must match bit for bit too (payloads preserved).
    func testDequantizationIsBitIdenticalToGGUFPy() throws {
        let cases = try Self.loadCases()
        let covered = Set(cases.map(\.type))
        XCTAssertEqual(covered, [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K])
        var compared = 0
        for c in cases {
            XCTAssertEqual(c.values.count, c.count)
            XCTAssertEqual(c.type.rowBytes(c.count), c.bytes.count, "\(c.type.name) \(c.kind)")
            XCTAssertEqual(ck_type_supported(Int32(c.type.rawValue)), 1, c.type.name)
            // Whole case as one row, and block by block (a row pointer that is not the start).
            let got = dequantize(c.type, c.bytes, c.count)
            var mismatches = 0
            for i in 0..<c.count where got[i].bitPattern != c.values[i].bitPattern {
                if mismatches < 5 {
                    XCTFail(
                        "\(c.type.name) \(c.kind) [\(i)]: ours \(got[i]) (0x\(String(got[i].bitPattern, radix: 16))), gguf \(c.values[i]) (0x\(String(c.values[i].bitPattern, radix: 16)))"
                    )
                }
                mismatches += 1
            }
            XCTAssertEqual(mismatches, 0, "\(c.type.name) \(c.kind): \(mismatches) of \(c.count) values differ")
            let bs = c.type.blockSize, ts = c.type.typeSize
            if bs > 1 {
                for b in 0..<(c.count / bs) {
                    let one = dequantize(c.type, Array(c.bytes[(b * ts)..<((b + 1) * ts)]), bs)
                    XCTAssertEqual(
                        one.map(\.bitPattern), c.values[(b * bs)..<((b + 1) * bs)].map(\.bitPattern),
                        "\(c.type.name) \(c.kind) block \(b)")
                }
            }
            compared += c.count
        }
        XCTAssertGreaterThan(compared, 5000)
    }

    /// ck_vec_dot and ck_matvec on the fixture rows, at every CPU level this machine
    /// has (scalar, AVX2, ...), against Σ gguf_dequant(w)ᵢ · aᵢ in double, where aᵢ is
    /// the int8 activation dequantized. The integer products are exact; what differs is
    /// the float order of the per-block scale products and sums, so the tolerance is
    /// 1e-5 of Σ|wᵢ·aᵢ| (float32 has 6e-8 per rounding; rows have ≤ 8 blocks).
    func testDotKernelsAgreeWithGGUFDequantizedRows() throws {
        let maxLevel = ck_cpu_level()
        defer { ck_set_cpu_level(maxLevel) }
        var rng = SplitMix64(seed: 1127)
        var checked = 0
        for c in try Self.loadCases() where c.type.blockSize > 1 {
            let n = 256, rb = c.type.rowBytes(n)!, rows = c.count / n
            let x = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 300 }
            var act = [UInt8](repeating: 0, count: ck_activation_bytes(Int32(c.type.rawValue), Int64(n)))
            act.withUnsafeMutableBytes { ck_quantize_activation(Int32(c.type.rawValue), x, $0.baseAddress, Int64(n)) }
            let a = Activations.values(c.type, act, n)
            for level in 0...maxLevel {
                XCTAssertEqual(ck_set_cpu_level(level), level)
                var y = [Float](repeating: .nan, count: rows)
                c.bytes.withUnsafeBytes { w in
                    act.withUnsafeBytes { ap in
                        ck_matvec(Int32(c.type.rawValue), w.baseAddress, rb, Int64(n), ap.baseAddress, &y, 0, Int64(rows))
                    }
                }
                for r in 0..<rows {
                    var expected = 0.0, magnitude = 0.0
                    for i in 0..<n {
                        let p = Double(c.values[r * n + i]) * Double(a[i])
                        expected += p; magnitude += abs(p)
                    }
                    let row = Array(c.bytes[(r * rb)..<((r + 1) * rb)])
                    let dot = row.withUnsafeBytes { w in
                        act.withUnsafeBytes {
                            ck_vec_dot(Int32(c.type.rawValue), w.baseAddress, $0.baseAddress, Int64(n))
                        }
                    }
                    let tol = 1e-5 * magnitude + Double(Float.leastNormalMagnitude)
                    XCTAssertEqual(Double(dot), expected, accuracy: tol, "\(c.type.name) \(c.kind) row \(r) level \(level)")
                    XCTAssertEqual(y[r], dot, "\(c.type.name) matvec row \(r) level \(level)")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 8 * 2)
        print("dot kernels: \(checked) fixture rows checked over CPU levels 0...\(maxLevel)")
    }
}
