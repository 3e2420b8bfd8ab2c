import CKernels
import Foundation
import XCTest

@testable import Inference

/// Deterministic mutation fuzzing of the GGUF reader (fixed seeds, so a failure
/// reproduces): byte and bit flips, inserted, deleted and duplicated ranges,
/// truncation, and length/count fields set to extremes. Every outcome must be a
/// parsed file whose tensors all lie inside the map, or a one-line EngineError. A
/// trap or a wild read kills the test process, which is the failure.
final class GGUFFuzzTests: XCTestCase {
    override class func tearDown() { GGUFWriter.removeTemporaryFiles() }

    struct Mutator {
        var rng: SplitMix64
        /// Offsets of the u64 length/count fields of the unmutated file.
        let lengthFields: [Int]
        /// Mutations mostly land in the first `hotBytes` (header and metadata), where the parsing is.
        let hotBytes: Int

        static let extremes64: [UInt64] = [0, 1, 2, 7, 255, 1 << 31, 1 << 32 - 1, 1 << 32, 1 << 62, 1 << 63, .max, .max - 1]
        static let extremes32: [UInt32] = [0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 30, 31, 0x7F, 0xFF, 0xFFFF, 0x7FFF_FFFF, .max]

        mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        mutating func position(_ count: Int) -> Int { int(4) == 0 ? int(count) : int(min(count, hotBytes)) }

        mutating func mutate(_ input: [UInt8]) -> [UInt8] {
            var b = input
            for _ in 0..<(1 + int(3)) where !b.isEmpty {
                switch int(9) {
                case 0:  // random bytes
                    for _ in 0..<(1 + int(8)) { b[position(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
                case 1:  // one bit
                    let p = position(b.count); b[p] ^= UInt8(1 << int(8))
                case 2:  // a length/count field set to an extreme (or near its old value)
                    guard let f = lengthFields.randomElement(using: &rng), f + 8 <= b.count else { continue }
                    let old = b[f..<(f + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
                    let v = int(3) == 0 ? old &+ UInt64(bitPattern: Int64(int(5) - 2)) : Mutator.extremes64[int(Mutator.extremes64.count)]
                    withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { b[f + i] = $0[i] } }
                case 3:  // a 32-bit field (types, n_dims, version) set to an extreme
                    let p = position(b.count - 3)
                    guard p + 4 <= b.count else { continue }
                    let v = Mutator.extremes32[int(Mutator.extremes32.count)]
                    withUnsafeBytes(of: v.littleEndian) { for i in 0..<4 { b[p + i] = $0[i] } }
                case 4:  // insert random bytes
                    let p = position(b.count + 1)
                    b.insert(contentsOf: (0..<(1 + int(64))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: p)
                case 5:  // delete a range
                    let p = position(b.count), n = min(1 + int(64), b.count - p)
                    b.removeSubrange(p..<(p + n))
                case 6:  // duplicate a range
                    let p = position(b.count), n = min(1 + int(64), b.count - p)
                    b.insert(contentsOf: b[p..<(p + n)], at: position(b.count + 1))
                case 7:  // truncate
                    b.removeSubrange(position(b.count)..<b.count)
                default:  // a 64-bit field anywhere set to an extreme
                    let p = position(b.count - 7)
                    guard p + 8 <= b.count else { continue }
                    let v = Mutator.extremes64[int(Mutator.extremes64.count)]
                    withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { b[p + i] = $0[i] } }
                }
            }
            return b
        }
    }

    struct Tally: CustomStringConvertible {
        var accepted = 0, rejected = 0
        var kinds: [String: Int] = [:]
        var description: String {
            "\(accepted) accepted, \(rejected) rejected (\(kinds.count) distinct error kinds)"
        }
        mutating func reject(_ e: Error, file: StaticString = #filePath, line: UInt = #line) {
            guard let e = e as? EngineError else { XCTFail("not an EngineError: \(e)", file: file, line: line); return }
            let d = e.description
            XCTAssertFalse(d.contains("\n") || d.contains("\r"), "multi-line error: \(d)", file: file, line: line)
            XCTAssertLessThan(d.count, 400, "overlong error: \(d.prefix(200))", file: file, line: line)
            rejected += 1
            // Kind: the message with numbers removed.
            kinds[String(d.filter { !$0.isNumber }.prefix(50)), default: 0] += 1
        }
    }

    /// Uses everything a parsed file claims: reads every tensor byte (a bad offset would
    /// fault), dequantizes rows, and builds and runs the tokenizer when there is one.
    static func exercise(_ g: GGUFFile) -> UInt64 {
        var sum: UInt64 = 0
        for t in g.tensors.values {
            precondition(t.offset >= g.dataOffset && t.offset + t.byteCount <= g.file.count)
            let p = g.pointer(t).assumingMemoryBound(to: UInt8.self)
            for i in stride(from: 0, to: t.byteCount, by: 64) { sum &+= UInt64(p[i]) }
            sum &+= UInt64(p[t.byteCount - 1])
            if ck_type_supported(Int32(t.type.rawValue)) != 0 {
                var row = [Float](repeating: 0, count: t.rowLength)
                ck_dequantize_row(Int32(t.type.rawValue), g.pointer(t), &row, Int64(t.rowLength))
            }
        }
        if g.metadata["tokenizer.ggml.tokens"] != nil, let tok = try? SentencePieceTokenizer.fromGGUF(g) {
            let ids = tok.encode("the abc\n\n  x<start_of_turn>ü😀", addBOS: true)
            for id in ids { precondition(id >= 0 && id < tok.vocabularySize) }
            sum &+= UInt64(tok.decode(ids).utf8.count)
        }
        return sum
    }

    func fuzz(
        _ base: [UInt8], lengthFields: [Int], hotBytes: Int, seed: UInt64, iterations: Int,
        body: ([UInt8]) throws -> Void
    ) -> Tally {
        var m = Mutator(rng: SplitMix64(seed: seed), lengthFields: lengthFields, hotBytes: hotBytes)
        var tally = Tally()
        for _ in 0..<iterations {
            let bytes = m.mutate(base)
            do { try body(bytes); tally.accepted += 1 } catch { tally.reject(error) }
        }
        return tally
    }

    func testMutatedSmallFilesParseOrFailCleanly() throws {
        var w = GGUFHostileFileTests.sampleWriter()
        w.add("tokenizer.ggml.tokens", .array(8, ["<pad>", "<eos>", "<bos>", "<unk>", "a", "b", "ab", "▁", "<0x0A>"].map { .string($0) }))
        w.add("tokenizer.ggml.scores", .array(6, (0..<9).map { .f32(-Float($0)) }))
        w.add("tokenizer.ggml.token_type", .array(5, [3, 3, 3, 2, 1, 1, 1, 1, 6].map { .i32($0) }))
        let base = w.bytes()
        let headerEnd = try GGUFWriter.parse(base).dataOffset
        let iterations = 20_000
        let start = Date()
        var checksum: UInt64 = 0
        let tally = fuzz(base, lengthFields: w.lengthFields, hotBytes: headerEnd, seed: 0x5eed, iterations: iterations) {
            checksum &+= Self.exercise(try GGUFWriter.parse($0))
        }
        let secs = Date().timeIntervalSince(start)
        print("GGUF fuzz (\(base.count)-byte file): \(iterations) mutants in \(String(format: "%.2f", secs)) s: \(tally)")
        XCTAssertEqual(tally.accepted + tally.rejected, iterations)
        // The mutations must reach deep: many different checks fire, and some mutants still parse.
        XCTAssertGreaterThan(tally.kinds.count, 25, "\(tally.kinds.keys.sorted())")
        XCTAssertGreaterThan(tally.accepted, iterations / 50)
    }

    /// Whole tiny models through LoadedModel.load(path:), run for a few tokens when they load.
    func testMutatedModelsLoadOrFailCleanly() throws {
        var w = GGUFWriter.tinyGemma3()
        let base = w.bytes()
        let headerEnd = try GGUFWriter.parse(base).dataOffset
        let path = try GGUFWriter.temporaryFile([0], name: "fuzz-model")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let iterations = 5_000
        let start = Date()
        var ran = 0
        let tally = fuzz(base, lengthFields: w.lengthFields, hotBytes: headerEnd, seed: 0x6e6d, iterations: iterations) { bytes in
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let m = try LoadedModel.load(path: path)
            let ids = m.tokenizer.encode("the abc", addBOS: true)
            let state = m.model.makeState(capacity: min(m.config.contextLength, 16))
            _ = try m.model.forward(Array(ids.prefix(8)), state: state, logitRows: [min(ids.count, 8) - 1], sparsity: .off, stats: nil)
            ran += 1
        }
        let secs = Date().timeIntervalSince(start)
        print(
            "GGUF model fuzz (\(base.count)-byte tiny Gemma 3): \(iterations) mutants in \(String(format: "%.2f", secs)) s: \(tally), \(ran) ran a forward pass"
        )
        XCTAssertEqual(tally.accepted + tally.rejected, iterations)
        XCTAssertGreaterThan(tally.kinds.count, 20, "\(tally.kinds.keys.sorted())")
        XCTAssertGreaterThan(ran, iterations / 20)
    }

    /// The first megabyte of the real model (header, metadata, the start of the
    /// 262k-token vocabulary), mutated. Skipped when the model is absent.
    func testMutatedRealModelHeader() throws {
        guard FileManager.default.fileExists(atPath: RealModel.path) else { throw XCTSkip("real model absent") }
        let fh = try FileHandle(forReadingFrom: URL(fileURLWithPath: RealModel.path))
        let base = [UInt8](try fh.read(upToCount: 1 << 20) ?? Data())
        try fh.close()
        // The metadata runs past 1 MB, so the unmutated prefix is itself a truncation error.
        XCTAssertThrowsError(try GGUFWriter.parse(base))
        // Length fields: header counts and the first keys' lengths are at known places;
        // the fuzzer finds the rest by the "64-bit field anywhere" mutation.
        let iterations = 1_000
        let start = Date()
        let tally = fuzz(base, lengthFields: [8, 16, 24], hotBytes: 4096, seed: 0x7ea1, iterations: iterations) {
            _ = Self.exercise(try GGUFWriter.parse($0))
        }
        print("GGUF real-header fuzz (1 MiB prefix): \(iterations) mutants in \(String(format: "%.2f", Date().timeIntervalSince(start))) s: \(tally)")
        XCTAssertEqual(tally.accepted + tally.rejected, iterations)
    }
}
