import Foundation
import XCTest

@testable import Inference

/// GGUF files that lie: truncated, with absurd counts and lengths, overflowing dims,
/// unknown type ids, bad offsets and tokenizer arrays of the wrong type. Every one
/// must give a one-line EngineError naming the problem — never a trap, a hang or a
/// huge allocation (a trap would kill the test process, which is the failure).
final class GGUFHostileFileTests: XCTestCase {
    override class func tearDown() { GGUFWriter.removeTemporaryFiles() }

    /// Every metadata value type (nested arrays too) and three small tensors.
    static func sampleWriter(version: UInt32 = 3, alignment: Int? = nil) -> GGUFWriter {
        var w = GGUFWriter()
        w.version = version
        w.add("general.architecture", .string("test"))
        if let a = alignment { w.alignment = a; w.add("general.alignment", .u32(UInt32(a))) }
        w.add("v.u8", .u8(200)); w.add("v.i8", .i8(-100))
        w.add("v.u16", .u16(60000)); w.add("v.i16", .i16(-30000))
        w.add("v.u32", .u32(4_000_000_000)); w.add("v.i32", .i32(-2_000_000_000))
        w.add("v.f32", .f32(1.5)); w.add("v.bool", .bool(true))
        w.add("v.string", .string("héllo ▁world")); w.add("v.empty", .string(""))
        w.add("v.u64", .u64(UInt64.max)); w.add("v.i64", .i64(Int64.min)); w.add("v.f64", .f64(-2.25))
        w.add("v.strings", .array(8, [.string("a"), .string("<0x0A>"), .string("")]))
        w.add("v.floats", .array(6, [.f32(0.5), .f32(-1)]))
        w.add("v.nested", .array(9, [.array(5, [.i32(1), .i32(-2)]), .array(8, [.string("x")]), .array(0, [])]))
        w.addTensor("a", dims: [64, 2], type: .q8_0)
        w.addF32("b", dims: [3], [1, 2, 3])
        w.addTensor("c", dims: [256], type: .q4_K)
        return w
    }

    /// Runs `body`, which must throw an EngineError whose description is one line
    /// mentioning `mentioning` (case-insensitive).
    @discardableResult
    func assertOneLineError<T>(
        _ mentioning: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> T
    ) -> String? {
        do {
            _ = try body()
            XCTFail("accepted a hostile file (expected an error about \(mentioning))", file: file, line: line)
            return nil
        } catch let e as EngineError {
            let d = e.description
            XCTAssertFalse(d.contains("\n") || d.contains("\r"), "multi-line error: \(d)", file: file, line: line)
            XCTAssertLessThan(d.count, 300, "overlong error", file: file, line: line)
            if !mentioning.isEmpty {
                XCTAssertTrue(d.lowercased().contains(mentioning.lowercased()), "\(d) does not mention \(mentioning)", file: file, line: line)
            }
            return d
        } catch {
            XCTFail("not an EngineError: \(error)", file: file, line: line)
            return nil
        }
    }

    func parse(_ w: GGUFWriter) throws -> GGUFFile { var w = w; return try GGUFWriter.parse(w.bytes()) }

    // MARK: valid files

    func testEveryValueTypeAndTensorInfoRoundTrips() throws {
        for version: UInt32 in [2, 3] {
            for align in [nil, 64, 256] as [Int?] {
                let g = try parse(Self.sampleWriter(version: version, alignment: align))
                XCTAssertEqual(g.version, version)
                XCTAssertEqual(g.alignment, align ?? 32)
                XCTAssertEqual(g.metadata["v.u8"], .uint(200)); XCTAssertEqual(g.metadata["v.i8"], .int(-100))
                XCTAssertEqual(g.metadata["v.u16"], .uint(60000)); XCTAssertEqual(g.metadata["v.i16"], .int(-30000))
                XCTAssertEqual(g.metadata["v.u32"], .uint(4_000_000_000)); XCTAssertEqual(g.metadata["v.i32"], .int(-2_000_000_000))
                XCTAssertEqual(g.metadata["v.f32"], .float(1.5)); XCTAssertEqual(g.metadata["v.bool"], .bool(true))
                XCTAssertEqual(g.metadata["v.string"], .string("héllo ▁world")); XCTAssertEqual(g.metadata["v.empty"], .string(""))
                XCTAssertEqual(g.metadata["v.u64"], .uint(UInt64.max)); XCTAssertEqual(g.metadata["v.i64"], .int(Int64.min))
                XCTAssertEqual(g.metadata["v.f64"], .float(-2.25))
                XCTAssertEqual(try g.stringArray("v.strings"), ["a", "<0x0A>", ""])
                XCTAssertEqual(try g.optionalNumberArray("v.floats"), [0.5, -1])
                XCTAssertEqual(g.metadata["v.nested"], .array([.array([.int(1), .int(-2)]), .array([.string("x")]), .array([])]))
                XCTAssertNil(g.metadata["v.u64"]?.intValue, "u64 max does not fit an Int")
                XCTAssertEqual(g.tensorNames, ["a", "b", "c"])
                let a = try XCTUnwrap(g.tensors["a"]), b = try XCTUnwrap(g.tensors["b"]), c = try XCTUnwrap(g.tensors["c"])
                XCTAssertEqual(a.dims, [64, 2]); XCTAssertEqual(a.type, .q8_0); XCTAssertEqual(a.byteCount, 4 * 34)
                XCTAssertEqual(b.byteCount, 12); XCTAssertEqual(c.byteCount, 144); XCTAssertEqual(c.rowCount, 1)
                for t in [a, b, c] {
                    XCTAssertEqual(t.offset % g.alignment, 0)
                    XCTAssertLessThanOrEqual(t.offset + t.byteCount, g.file.count)
                }
                XCTAssertEqual(g.dataOffset % g.alignment, 0)
                let floats = (0..<3).map { g.pointer(b).loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                XCTAssertEqual(floats, [1, 2, 3])
            }
        }
    }

    // MARK: truncation

    func testEveryTruncationIsAnError() throws {
        var w = Self.sampleWriter()
        let full = w.bytes()
        XCTAssertNoThrow(try GGUFWriter.parse(full))
        var messages = Set<String>()
        for n in 0..<full.count {
            do {
                _ = try GGUFWriter.parse(Array(full[0..<n]))
                XCTFail("prefix of \(n) of \(full.count) bytes accepted")
            } catch let e as EngineError {
                XCTAssertFalse(e.description.contains("\n"))
                messages.insert(String(e.description.prefix(40)))
            }
        }
        // The errors name different fields, not one catch-all.
        XCTAssertGreaterThan(messages.count, 10, "\(messages)")
    }

    // MARK: header

    func testMagicVersionAndEmptyFile() throws {
        var w = Self.sampleWriter()
        w.magic = 0x4655_4746
        assertOneLineError("magic") { try parse(w) }
        for v: UInt32 in [0, 1, 4, 0x0300_0000, .max] {
            var w = Self.sampleWriter(); w.version = v
            assertOneLineError("version") { try parse(w) }
        }
        assertOneLineError("empty") { try GGUFWriter.parse([]) }
        assertOneLineError("empty") { try GGUFFile(path: try GGUFWriter.temporaryFile([])) }
        assertOneLineError("not a regular file") { try GGUFFile(path: NSTemporaryDirectory()) }
    }

    func testAbsurdCounts() throws {
        for n: UInt64 in [1 << 63, .max, 1 << 32, 1_000_000] {
            var w = Self.sampleWriter(); w.tensorCountOverride = n
            assertOneLineError("tensor") { try parse(w) }
            var k = Self.sampleWriter(); k.kvCountOverride = n
            assertOneLineError("") { try parse(k) }
        }
        // One more KV than present: the reader runs into the tensor infos and must fail there.
        var w = Self.sampleWriter(); w.kvCountOverride = UInt64(w.metadata.count + 1)
        assertOneLineError("") { try parse(w) }
    }

    func testAbsurdStringAndArrayLengths() throws {
        for n: UInt64 in [1 << 63, .max, 1 << 40, 1 << 31, 100] {
            // Lengths beyond the file are named as such; a small lie (100) reads into
            // the following fields and fails wherever that leads, which is also fine.
            let huge = n >= 1 << 31
            var w = Self.sampleWriter(); w.add("bad", .rawString(length: n, bytes: Array("abc".utf8)))
            assertOneLineError(huge ? "length \(n) of bad exceeds" : "") { try parse(w) }
            // The key itself with an absurd length.
            var k = Self.sampleWriter(); k.metadata.insert(("", .u8(0)), at: 0)
            var bytes = k.bytes()
            let keyLengthField = k.lengthFields[2]  // after tensor_count and kv_count
            withUnsafeBytes(of: n.littleEndian) { for i in 0..<8 { bytes[keyLengthField + i] = $0[i] } }
            assertOneLineError(huge ? "metadata key #0" : "") { try GGUFWriter.parse(bytes) }
            // Arrays of every element type claiming far more elements than the file holds.
            for et: UInt32 in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] {
                var a = Self.sampleWriter()
                a.add("tokenizer.ggml.tokens", .rawArray(elementType: et, count: n, payload: []))
                assertOneLineError(huge ? "tokenizer.ggml.tokens" : "") { try parse(a) }
            }
            // A nested array with a huge inner count.
            var nested = Self.sampleWriter()
            nested.add("nest", .array(9, [.rawArray(elementType: 4, count: n, payload: [.u32(1)])]))
            assertOneLineError(huge ? "nest" : "") { try parse(nested) }
        }
        var t = Self.sampleWriter(); t.tensors[0].name = String(repeating: "n", count: 300)
        assertOneLineError("longer than 256") { try parse(t) }
    }

    func testDeeplyNestedArraysAreRefused() throws {
        var w = Self.sampleWriter()
        w.add("deep", .array(9, [.array(9, [.array(4, [.u32(1)])])]))
        assertOneLineError("nests arrays too deeply") { try parse(w) }
    }

    func testUnknownTypeIds() throws {
        for t: UInt32 in [13, 100, .max] {
            var w = Self.sampleWriter(); w.add("odd", .rawTyped(type: t, bytes: [0, 0, 0, 0]))
            assertOneLineError("unknown value type \(t)") { try parse(w) }
            var a = Self.sampleWriter(); a.add("odd", .rawArray(elementType: t, count: 1, payload: []))
            assertOneLineError("unknown array element type \(t)") { try parse(a) }
        }
        var b = Self.sampleWriter(); b.add("flag", .rawTyped(type: 7, bytes: [2]))
        assertOneLineError("bool") { try parse(b) }
        // Tensor types: 4 and 5 were removed from GGML, 16+ are types we do not know (IQ*), .max is junk.
        for t: UInt32 in [4, 5, 16, 29, 31, 99, .max] {
            var w = Self.sampleWriter(); w.tensors[1].type = t
            assertOneLineError("unknown type id \(t)") { try parse(w) }
        }
    }

    func testDimsAreChecked() throws {
        let cases: [([UInt64], String)] = [
            ([0], "dim 0"), ([3, 0], "dim 1"),
            ([UInt64.max], "dim 0"), ([1 << 63], "dim 0"), ([1 << 32], "dim 0"),
            ([UInt64(Int32.max), UInt64(Int32.max), UInt64(Int32.max), UInt64(Int32.max)], "overflows"),
            ([1 << 21, 1 << 21], "overflows")
        ]
        for (dims, msg) in cases {
            var w = Self.sampleWriter(); w.tensors[1].dims = dims
            assertOneLineError(msg) { try parse(w) }
        }
        for nd: UInt32 in [0, 5, 64, .max] {
            var w = Self.sampleWriter(); w.tensors[1].nDimsOverride = nd
            assertOneLineError("n_dims") { try parse(w) }
        }
        // Five dims written out in full.
        var five = Self.sampleWriter(); five.tensors[1].dims = [3, 1, 1, 1, 1]
        assertOneLineError("n_dims") { try parse(five) }
        // Row length not a whole number of blocks.
        var rows = Self.sampleWriter(); rows.tensors[0].dims = [48, 2]
        assertOneLineError("block size") { try parse(rows) }
        // Dims that do not overflow but describe more data than the file has.
        var big = Self.sampleWriter(); big.tensors[1].dims = [1 << 20, 1 << 19]
        assertOneLineError("past end of file") { try parse(big) }
    }

    func testOffsetsAreChecked() throws {
        for (off, msg) in [(UInt64.max, "not aligned"), (1 << 63, "past end"), (4096, "past end"), (1, "not aligned"), (48, "not aligned")] {
            var w = Self.sampleWriter(); w.tensors[2].offsetOverride = off
            assertOneLineError(msg) { try parse(w) }
        }
        // Overlap: the F32 tensor placed on top of the first.
        var w = Self.sampleWriter(); w.tensors[1].offsetOverride = 0
        assertOneLineError("overlaps") { try parse(w) }
        var w2 = Self.sampleWriter(); w2.tensors[2].offsetOverride = 128  // inside a (0..<136)
        assertOneLineError("overlaps") { try parse(w2) }
        // Alignment: must be a power of two, sane, and an integer.
        for bad: GGUFWriter.Value in [.u32(0), .u32(3), .u32(48), .u32(1 << 20), .i32(-32), .string("32"), .f32(32)] {
            var a = Self.sampleWriter(); a.add("general.alignment", bad)
            assertOneLineError("general.alignment") { try parse(a) }
        }
        // A file aligned to 64 but declaring 32 is fine; declaring 64 while data is at 32-offsets is not.
        var mis = Self.sampleWriter(); mis.add("general.alignment", .u32(64))
        assertOneLineError("offset of b is not aligned to 64") { try parse(mis) }
    }

    func testDuplicatesAndHostileNames() throws {
        var w = Self.sampleWriter(); w.add("v.u8", .u8(1))
        assertOneLineError("duplicate metadata key v.u8") { try parse(w) }
        var t = Self.sampleWriter(); t.tensors[1].name = "a"
        assertOneLineError("duplicate tensor a") { try parse(t) }
        // A key full of line breaks and a megabyte long: the message stays one short line.
        var n = Self.sampleWriter()
        n.add("evil\nkey\r\u{2028}" + String(repeating: "x", count: 1 << 20), .rawTyped(type: 77, bytes: []))
        let d = assertOneLineError("evil\\nkey") { try parse(n) }
        XCTAssertLessThan(d?.count ?? 0, 200)
    }

    // MARK: whole models through LoadedModel.load(path:)

    func load(_ w: GGUFWriter) throws -> LoadedModel {
        var w = w
        return try LoadedModel.load(path: try GGUFWriter.temporaryFile(w.bytes()))
    }

    func testTinyModelLoadsAndRuns() throws {
        let m = try load(GGUFWriter.tinyGemma3())
        XCTAssertEqual(m.info.architecture, "gemma3")
        XCTAssertEqual(m.config.vocabularySize, m.tokenizer.vocabularySize)
        let ids = m.tokenizer.encode("the abc\n\n", addBOS: true)
        XCTAssertEqual(m.tokenizer.decode(ids), "the abc\n\n")
        let state = m.model.makeState(capacity: 32)
        let logits = try m.model.forward(ids, state: state, logitRows: [ids.count - 1], sparsity: .off, stats: nil)
        XCTAssertEqual(logits.count, m.config.vocabularySize)
        XCTAssertTrue(logits.allSatisfy(\.isFinite))
    }

    func testHostileModelsGiveOneLineErrors() throws {
        typealias Edit = (inout GGUFWriter) -> Void
        let cases: [(String, String, Edit)] = [
            ("tokens as ints", "tokenizer.ggml.tokens", { $0.set("tokenizer.ggml.tokens", .array(5, [.i32(1), .i32(2)])) }),
            ("tokens as a string", "tokenizer.ggml.tokens", { $0.set("tokenizer.ggml.tokens", .string("abc")) }),
            ("tokens as nested arrays", "tokenizer.ggml.tokens", { $0.set("tokenizer.ggml.tokens", .array(9, [.array(8, [.string("a")])])) }),
            ("scores as strings", "tokenizer.ggml.scores", { $0.set("tokenizer.ggml.scores", .array(8, [.string("0.5")])) }),
            ("scores count", "scores", { $0.set("tokenizer.ggml.scores", .array(6, [.f32(0)])) }),
            ("token types as floats", "token_type", { $0.set("tokenizer.ggml.token_type", .array(6, [.f32(1.5)])) }),
            (
                "token type out of range", "token_type",
                { w in
                    w.set("tokenizer.ggml.token_type", .array(5, (0..<279).map { $0 == 10 ? .i32(99) : .i32(1) }))
                }
            ),
            ("bos out of range", "bos id", { $0.set("tokenizer.ggml.bos_token_id", .u32(1_000_000)) }),
            ("eos negative", "eos id", { $0.set("tokenizer.ggml.eos_token_id", .i32(-1)) }),
            ("unk out of range", "unknown id", { $0.set("tokenizer.ggml.unknown_token_id", .u32(279)) }),
            ("bos as string", "bos_token_id", { $0.set("tokenizer.ggml.bos_token_id", .string("2")) }),
            ("add_space_prefix not bool", "add_space_prefix", { $0.set("tokenizer.ggml.add_space_prefix", .u8(1)) }),
            ("missing tokens", "tokenizer.ggml.tokens", { $0.remove("tokenizer.ggml.tokens") }),
            ("architecture not a string", "general.architecture", { $0.set("general.architecture", .u32(3)) }),
            ("architecture with a newline", "gemma9\\nevil", { $0.set("general.architecture", .string("gemma9\nevil")) }),
            ("embedding length as string", "embedding_length", { $0.set("gemma3.embedding_length", .string("32")) }),
            ("block count zero", "block_count", { $0.set("gemma3.block_count", .u32(0)) }),
            ("block count huge", "block_count", { $0.set("gemma3.block_count", .u64(1 << 40)) }),
            ("heads not dividing", "head_count", { $0.set("gemma3.attention.head_count_kv", .u32(3)) }),
            ("missing tensor", "blk.0.ffn_down.weight", { $0.removeTensor("blk.0.ffn_down.weight") }),
            ("missing embedding", "token_embd.weight", { $0.removeTensor("token_embd.weight") }),
            ("two layers, one present", "blk.1.", { $0.set("gemma3.block_count", .u32(2)) }),
            (
                "misshapen matrix", "blk.0.attn_q.weight",
                { w in
                    let i = w.tensors.firstIndex { $0.name == "blk.0.attn_q.weight" }!
                    w.tensors[i].dims = [32, 16]; w.tensors[i].data = Array(w.tensors[i].data[0..<(32 * 16 * 4)])
                }
            ),
            (
                "misshapen norm", "blk.0.attn_norm.weight",
                { w in
                    let i = w.tensors.firstIndex { $0.name == "blk.0.attn_norm.weight" }!
                    w.tensors[i].dims = [16]; w.tensors[i].data = Array(w.tensors[i].data[0..<64])
                }
            ),
            // Q8_1 is a GGML type the reader knows but the kernels do not run.
            (
                "embedding of an unsupported type", "Q8_1 of token_embd.weight",
                { w in
                    let i = w.tensors.firstIndex { $0.name == "token_embd.weight" }!
                    w.tensors[i].type = GGMLType.q8_1.rawValue
                    w.tensors[i].data = [UInt8](repeating: 0, count: 279 * 36)
                }
            ),
            (
                "norm of an unsupported type", "Q8_1 of output_norm.weight",
                { w in
                    let i = w.tensors.firstIndex { $0.name == "output_norm.weight" }!
                    w.tensors[i].type = GGMLType.q8_1.rawValue
                    w.tensors[i].data = [UInt8](repeating: 0, count: 36)
                }
            ),
            (
                "more tokens than embedding rows", "token_embd.weight has",
                { w in
                    let i = w.tensors.firstIndex { $0.name == "token_embd.weight" }!
                    w.tensors[i].dims = [32, 200]; w.tensors[i].data = Array(w.tensors[i].data[0..<(32 * 200 * 4)])
                }
            )
        ]
        for (what, mention, edit) in cases {
            var w = GGUFWriter.tinyGemma3()
            edit(&w)
            if let d = assertOneLineError(mention, { try load(w) }) { print("  \(what): \(d)") }
        }
    }
}

extension GGUFHostileFileTests {
    /// One-byte array elements cost far more in memory than in the file: the total is capped.
    func testArrayElementTotalIsCapped() throws {
        let n = ByteReader.maxArrayElements / 2 + 1
        var w = Self.sampleWriter()
        w.add("big1", .rawTyped(type: 9, bytes: Self.u8ArrayPayload(n)))
        w.add("big2", .rawTyped(type: 9, bytes: Self.u8ArrayPayload(n)))
        assertOneLineError("big2 takes the metadata past") { try parse(w) }
        var ok = Self.sampleWriter()
        ok.add("big1", .rawTyped(type: 9, bytes: Self.u8ArrayPayload(n)))
        XCTAssertEqual(try parse(ok).metadata["big1"]?.arrayValue?.count, n)
    }

    /// Element type u8, count n, n zero bytes.
    static func u8ArrayPayload(_ n: Int) -> [UInt8] {
        var b: [UInt8] = [0, 0, 0, 0]
        withUnsafeBytes(of: UInt64(n).littleEndian) { b += $0 }
        return b + [UInt8](repeating: 0, count: n)
    }
}

extension GGUFHostileFileTests {
    /// A FIFO, a directory or a device named like a model: refused at once (opening a
    /// FIFO for reading would otherwise block until some writer appears).
    func testNonRegularFilesAreRefusedWithoutBlocking() throws {
        let dir = URL(fileURLWithPath: try GGUFWriter.temporaryFile([0])).deletingLastPathComponent()
        let fifo = dir.appendingPathComponent("fifo-\(UUID().uuidString).gguf").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        let start = Date()
        assertOneLineError("not a regular file") { try GGUFFile(path: fifo) }
        assertOneLineError("not a regular file") { try LoadedModel.load(path: "/dev/zero") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        // The catalog reports it as a problem and goes on.
        var problems: [String] = []
        _ = ModelCatalog.scan(directory: dir) { problems.append($0) }
        XCTAssertTrue(problems.contains { $0.contains("fifo-") && $0.contains("not a regular file") }, "\(problems)")
    }
}

extension GGUFHostileFileTests {
    /// Vocabularies that are legal but strange — NaN and infinite scores, empty and
    /// duplicate pieces, no byte tokens — still load, and encoding gives only ids inside
    /// the vocabulary (the unknown id where no byte token exists).
    func testOddButWellFormedVocabulariesEncodeSafely() throws {
        let edits: [(String, (inout GGUFWriter) -> Void)] = [
            ("NaN scores", { $0.set("tokenizer.ggml.scores", .array(6, (0..<279).map { $0 % 3 == 0 ? .f32(.nan) : .f32(-Float($0)) })) }),
            ("infinite scores", { $0.set("tokenizer.ggml.scores", .array(6, (0..<279).map { .f32($0 % 2 == 0 ? .infinity : -.infinity) })) }),
            (
                "empty pieces",
                { w in
                    var pieces: [GGUFWriter.Value] = (0..<279).map { _ in .string("") }
                    pieces[1] = .string("<eos>"); pieces[2] = .string("<bos>")
                    w.set("tokenizer.ggml.tokens", .array(8, pieces))
                }
            ),
            ("duplicate pieces", { $0.set("tokenizer.ggml.tokens", .array(8, (0..<279).map { .string($0 < 6 ? "<x>" : "a") })) }),
            ("no byte tokens", { $0.set("tokenizer.ggml.token_type", .array(5, (0..<279).map { _ in .i32(1) })) }),
            ("everything control", { $0.set("tokenizer.ggml.token_type", .array(5, (0..<279).map { _ in .i32(3) })) })
        ]
        for (what, edit) in edits {
            var w = GGUFWriter.tinyGemma3()
            edit(&w)
            let tok = try SentencePieceTokenizer.fromGGUF(GGUFWriter.parse(w.bytes()))
            for text in ["the abc", "  \n\n a<start_of_turn>b", "😀 東京 ü", "", "<x><x>", String(repeating: "ab", count: 300)] {
                let ids = tok.encode(text, addBOS: true)
                XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < tok.vocabularySize }, "\(what): \(ids)")
                _ = tok.decode(ids)
            }
        }
    }
}
