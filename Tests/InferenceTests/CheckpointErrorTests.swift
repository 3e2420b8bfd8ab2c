import XCTest

@testable import Inference

/// Broken Hugging Face checkpoints and hostile safetensors files: each is refused with
/// one line naming what is wrong, never a crash.
final class CheckpointErrorTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// A copy of a family fixture to break.
    func copy(_ arch: String) throws -> URL {
        let src = Fixtures.url("family/\(arch)")
        guard FileManager.default.fileExists(atPath: src.path) else { throw XCTSkip("fixture family/\(arch) missing") }
        let dst = tmp.appendingPathComponent(arch)
        try FileManager.default.copyItem(at: src, to: dst)
        return dst
    }

    func editJSON(_ url: URL, _ body: (inout [String: Any]) -> Void) throws {
        var j = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        body(&j)
        try JSONSerialization.data(withJSONObject: j).write(to: url)
    }

    /// Rewrites a safetensors file's header (padded to 8 bytes so the data stays aligned).
    func editHeader(_ url: URL, _ body: (inout [String: Any]) -> Void) throws {
        let d = try Data(contentsOf: url)
        let n = Int(d.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var h = try JSONSerialization.jsonObject(with: d.subdata(in: 8..<(8 + n))) as! [String: Any]
        body(&h)
        try writeSafetensors(url, header: h, data: d.subdata(in: (8 + n)..<d.count))
    }

    func writeSafetensors(_ url: URL, header: [String: Any], data: Data, claimedLength: UInt64? = nil) throws {
        var hb = try JSONSerialization.data(withJSONObject: header)
        while hb.count % 8 != 0 { hb.append(0x20) }
        var out = Data()
        var len = (claimedLength ?? UInt64(hb.count)).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(hb)
        out.append(data)
        try out.write(to: url)
    }

    /// Loading fails with an EngineError whose one-line text contains `fragment`.
    func assertRefused(_ path: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try LoadedModel.load(path: path)
            XCTFail("loaded a broken checkpoint (expected: \(fragment))", file: file, line: line)
        } catch let e as EngineError {
            XCTAssertFalse(e.description.contains("\n"), "not one line: \(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(fragment), "\(e) does not mention \(fragment)", file: file, line: line)
        } catch {
            XCTFail("not an EngineError: \(error)", file: file, line: line)
        }
    }

    func testMissingShard() throws {
        let d = try copy("gemma2")
        try FileManager.default.removeItem(at: d.appendingPathComponent("model-00002-of-00003.safetensors"))
        assertRefused(d.path, "missing shard model-00002-of-00003.safetensors")
    }

    func testIndexNamingAPathOutsideTheDirectory() throws {
        let d = try copy("gemma2")
        try editJSON(d.appendingPathComponent("model.safetensors.index.json")) { j in
            var map = j["weight_map"] as! [String: Any]
            map["model.norm.weight"] = "../../etc/passwd.safetensors"
            j["weight_map"] = map
        }
        assertRefused(d.path, "invalid shard")
    }

    func testIndexPointingAtTheWrongShard() throws {
        let d = try copy("gemma2")
        try editJSON(d.appendingPathComponent("model.safetensors.index.json")) { j in
            var map = j["weight_map"] as! [String: Any]
            let shard = map["model.norm.weight"] as! String
            map["model.norm.weight"] = shard == "model-00001-of-00003.safetensors" ? "model-00002-of-00003.safetensors" : "model-00001-of-00003.safetensors"
            j["weight_map"] = map
        }
        assertRefused(d.path, "model.norm.weight is not in shard")
    }

    func testShapeMismatchingConfig() throws {
        let d = try copy("gemma")
        try editJSON(d.appendingPathComponent("config.json")) { $0["intermediate_size"] = 100 }
        assertRefused(d.path, "gate_proj.weight has shape [128, 64], expected [100, 64]")
        let r = try copy("recurrent_gemma")
        try editJSON(r.appendingPathComponent("config.json")) { $0["lru_width"] = 32 }
        assertRefused(r.path, "expected")
    }

    func testUnknownModelType() throws {
        let d = try copy("gemma")
        try editJSON(d.appendingPathComponent("config.json")) { $0["model_type"] = "llama9000" }
        assertRefused(d.path, "unsupported: model_type llama9000")
    }

    func testBadConfigValues() throws {
        let d = try copy("gemma")
        try editJSON(d.appendingPathComponent("config.json")) { $0["num_attention_heads"] = -4 }
        assertRefused(d.path, "num_attention_heads = -4 is out of range")
        try editJSON(d.appendingPathComponent("config.json")) { $0["num_attention_heads"] = "four" }
        assertRefused(d.path, "num_attention_heads is not an integer")
        try Data("{not json".utf8).write(to: d.appendingPathComponent("config.json"))
        assertRefused(d.path, "config.json is not a JSON object")
        try FileManager.default.removeItem(at: d.appendingPathComponent("config.json"))
        assertRefused(d.path, "has no config.json")
    }

    func testUnsupportedActivation() throws {
        let d = try copy("gemma3")
        try editJSON(d.appendingPathComponent("config.json")) { $0["hidden_activation"] = "relu" }
        assertRefused(d.path, "unsupported: hidden_activation relu")
    }

    func testUnsupportedAndUnknownDtypes() throws {
        let d = try copy("gemma")
        let st = d.appendingPathComponent("model.safetensors")
        try editHeader(st) { h in
            var e = h["model.embed_tokens.weight"] as! [String: Any]
            e["dtype"] = "I32"  // same element size: the header stays consistent
            h["model.embed_tokens.weight"] = e
        }
        assertRefused(d.path, "unsupported: dtype I32 of tensor model.embed_tokens.weight")
        try editHeader(st) { h in
            var e = h["model.embed_tokens.weight"] as! [String: Any]
            e["dtype"] = "Q9_X"
            h["model.embed_tokens.weight"] = e
        }
        assertRefused(d.path, "unknown dtype Q9_X")
    }

    func testMissingTokenizer() throws {
        let d = try copy("gemma")
        try FileManager.default.removeItem(at: d.appendingPathComponent("tokenizer.model"))
        assertRefused(d.path, "neither tokenizer.model nor tokenizer.json")
        try Data([0x0A, 0xFF, 0xFF, 0xFF]).write(to: d.appendingPathComponent("tokenizer.model"))
        assertRefused(d.path, "tokenizer.model")
    }

    // MARK: hostile safetensors headers

    func refusedFile(_ url: URL, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try SafetensorsFile(path: url.path)
            XCTFail("accepted a hostile file (expected: \(fragment))", file: file, line: line)
        } catch let e as EngineError {
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
            XCTAssertTrue(e.description.contains(fragment), "\(e) does not mention \(fragment)", file: file, line: line)
        } catch { XCTFail("\(error)", file: file, line: line) }
    }

    func testTruncatedAndHostileHeaders() throws {
        let f = tmp.appendingPathComponent("x.safetensors")
        // Truncated: a real file cut inside its header.
        let real = try Data(contentsOf: Fixtures.url("family/gemma/model.safetensors"))
        try real.prefix(100).write(to: f)
        refusedFile(f, "exceeds file size")
        try real.prefix(5).write(to: f)
        refusedFile(f, "header length truncated")
        let t: [String: Any] = ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]]
        try writeSafetensors(f, header: ["a": t], data: Data(count: 16), claimedLength: 1 << 62)
        refusedFile(f, "out of range")
        try writeSafetensors(f, header: ["a": ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 32]]], data: Data(count: 16))
        refusedFile(f, "lie outside the data")
        try writeSafetensors(f, header: ["a": ["dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]]], data: Data(count: 16))
        refusedFile(f, "expected 24 for F32")
        try writeSafetensors(f, header: ["a": ["dtype": "F32", "shape": [Int(1) << 40, Int(1) << 40], "data_offsets": [0, 16]]], data: Data(count: 16))
        refusedFile(f, "overflows")
        try writeSafetensors(f, header: ["a": t, "b": ["dtype": "F32", "shape": [2], "data_offsets": [8, 16]]], data: Data(count: 16))
        refusedFile(f, "overlap")
        try writeSafetensors(f, header: ["a": ["dtype": "F32", "shape": [-1], "data_offsets": [0, 4]]], data: Data(count: 16))
        refusedFile(f, "invalid dimension")
        try writeSafetensors(f, header: ["a": ["dtype": "F32", "shape": [1], "data_offsets": [2, 6]]], data: Data(count: 16))
        refusedFile(f, "not aligned")
        try writeSafetensors(f, header: ["a": ["dtype": "F32", "shape": [1]]], data: Data(count: 16))
        refusedFile(f, "invalid data_offsets")
        var junk = Data([16, 0, 0, 0, 0, 0, 0, 0]); junk.append(Data("[1,2,3]         ".utf8))
        try junk.write(to: f)
        refusedFile(f, "header is not a JSON object")
        // A well-formed file is accepted, with its metadata.
        try writeSafetensors(f, header: ["a": t, "__metadata__": ["format": "pt"]], data: Data(count: 16))
        let ok = try SafetensorsFile(path: f.path)
        XCTAssertEqual(ok.tensors["a"]?.shape, [2, 2])
        XCTAssertEqual(ok.metadata["format"], "pt")
    }

    /// Random corruption of a real header never crashes the reader.
    func testFuzzedHeadersNeverCrash() throws {
        let real = try Data(contentsOf: Fixtures.url("family/gemma/model.safetensors"))
        let n = Int(real.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let f = tmp.appendingPathComponent("fuzz.safetensors")
        var rng = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["SPARKCHAT_TEST_SEED"] ?? "") ?? 7)  // seeded: a failure repeats
        for _ in 0..<200 {
            var d = real.prefix(8 + n + 64)
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                d[Int.random(in: 0..<(8 + n), using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            try d.write(to: f)
            _ = try? SafetensorsFile(path: f.path)
        }
    }
}
