import XCTest

@testable import Inference

/// The Hugging Face tokenizer files (tokenizer.json, tokenizer.model) as hostile input,
/// and the byte-exactness the vocabulary needs.
final class TokenizerFilesTests: XCTestCase {
    func tokenizerJSON(vocab: [(String, Int)], merges: [String], added: [(Int, String, Bool)] = []) -> Data {
        func q(_ s: String) -> String {
            let d = try! JSONSerialization.data(withJSONObject: [s])
            return String(decoding: d.dropFirst().dropLast(), as: UTF8.self)
        }
        let v = vocab.map { "\(q($0.0)):\($0.1)" }.joined(separator: ",")
        let m = merges.map(q).joined(separator: ",")
        let a = added.map { "{\"id\":\($0.0),\"content\":\(q($0.1)),\"special\":\($0.2)}" }.joined(separator: ",")
        return Data(
            "{\"added_tokens\":[\(a)],\"normalizer\":{\"type\":\"Replace\"},\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\(v)},\"merges\":[\(m)]}}"
                .utf8)
    }

    /// "é" precomposed (U+00E9) and decomposed (e + U+0301) are different pieces; a
    /// Foundation dictionary would merge them (String keys compare canonically).
    func testCanonicallyEquivalentPiecesStayDistinct() throws {
        let pre = "\u{E9}", dec = "e\u{301}"
        let data = tokenizerJSON(
            vocab: [("<pad>", 0), ("<eos>", 1), ("<bos>", 2), ("<unk>", 3), (pre, 4), (dec, 5), ("e", 6), ("\u{301}", 7)],
            merges: ["e \u{301}"], added: [(0, "<pad>", true), (1, "<eos>", true), (2, "<bos>", true), (3, "<unk>", true)])
        let t = try SentencePieceTokenizer.fromTokenizerJSON(data)
        XCTAssertEqual(t.vocabularySize, 8)
        XCTAssertEqual(t.encode(pre, addBOS: false), [4])
        XCTAssertEqual(t.encode(dec, addBOS: false), [5])
        XCTAssertEqual(t.encode("ee", addBOS: true), [2, 6, 6])
    }

    func testMergeRankOrdersMerges() throws {
        // "abc": merging "b c" first (rank 0) must win over "a b" (rank 1).
        let data = tokenizerJSON(
            vocab: [
                ("<pad>", 0), ("<eos>", 1), ("<bos>", 2), ("<unk>", 3), ("a", 4), ("b", 5), ("c", 6),
                ("bc", 7), ("ab", 8), ("abc", 9)
            ],
            merges: ["b c", "a b", "a bc"])
        let t = try SentencePieceTokenizer.fromTokenizerJSON(data)
        XCTAssertEqual(t.encode("abc", addBOS: false), [9])
        XCTAssertEqual(t.encode("ab", addBOS: false), [8])
        XCTAssertEqual(t.encode("cab", addBOS: false), [6, 8])
    }

    /// Characters without pieces or byte tokens: one <unk> each, fused when the file says fuse_unk
    /// (transformers' default GemmaTokenizer() vocabulary of five specials gives [unk] for any text).
    func testUnknownCharactersFuseLikeHuggingFace() throws {
        let json = { (fuse: Bool) in
            Data(
                """
                {"added_tokens":[{"id":0,"content":"<pad>","special":true},{"id":1,"content":"<eos>","special":true},
                {"id":2,"content":"<bos>","special":true},{"id":3,"content":"<unk>","special":true}],
                "model":{"type":"BPE","fuse_unk":\(fuse),"unk_token":"<unk>","vocab":{"<pad>":0,"<eos>":1,"<bos>":2,"<unk>":3,"a":4},"merges":[]}}
                """.utf8)
        }
        let fused = try SentencePieceTokenizer.fromTokenizerJSON(json(true))
        XCTAssertEqual(fused.encode("Hello world", addBOS: true), [2, 3])
        XCTAssertEqual(fused.encode("xxaxx<eos>", addBOS: false), [3, 4, 3, 1])
        let plain = try SentencePieceTokenizer.fromTokenizerJSON(json(false))
        XCTAssertEqual(plain.encode("héa", addBOS: false), [3, 3, 4])  // one <unk> per character, not per byte
    }

    func assertOneLineError(_ body: () throws -> Any, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("accepted (expected \(fragment))", file: file, line: line)
        } catch let e as EngineError {
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
            XCTAssertTrue(e.description.contains(fragment), "\(e)", file: file, line: line)
        } catch { XCTFail("\(error)", file: file, line: line) }
    }

    func testMalformedTokenizerJSON() {
        assertOneLineError({ try SentencePieceTokenizer.fromTokenizerJSON(Data("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}".utf8)) }, "Unigram")
        assertOneLineError(
            {
                try SentencePieceTokenizer.fromTokenizerJSON(
                    Data("{\"added_tokens\":[{\"id\":3,\"content\":\"<x>\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1}}}".utf8))
            }, "not contiguous")
        assertOneLineError(
            { try SentencePieceTokenizer.fromTokenizerJSON(Data("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0}}}".utf8)) }, "appears twice")
        assertOneLineError({ try SentencePieceTokenizer.fromTokenizerJSON(Data("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1}}}".utf8)) }, "no valid id")
        assertOneLineError({ try SentencePieceTokenizer.fromTokenizerJSON(Data("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}".utf8)) }, "tokenizer.json")
        assertOneLineError({ try SentencePieceTokenizer.fromTokenizerJSON(Data((String(repeating: "[", count: 100_000)).utf8)) }, "nesting too deep")
        assertOneLineError({ try SentencePieceTokenizer.fromTokenizerJSON(Data("\"\\ud800".utf8)) }, "tokenizer.json")
    }

    func testMalformedTokenizerModel() {
        // Field 1 (piece) claiming more bytes than the file has.
        assertOneLineError({ try SentencePieceTokenizer.fromSentencePieceModel(Data([0x0A, 0x7F, 0x01])) }, "exceeds the data")
        // Truncated varint.
        assertOneLineError({ try SentencePieceTokenizer.fromSentencePieceModel(Data([0x0A, 0xFF, 0xFF])) }, "truncated varint")
        // An invalid piece type.
        assertOneLineError({ try SentencePieceTokenizer.fromSentencePieceModel(Data([0x0A, 0x05, 0x0A, 0x01, 0x61, 0x18, 0x09])) }, "invalid type 9")
        // A well-formed but Unigram model (trainer_spec.model_type = 1).
        assertOneLineError({ try SentencePieceTokenizer.fromSentencePieceModel(Data([0x0A, 0x03, 0x0A, 0x01, 0x61, 0x12, 0x02, 0x18, 0x01])) }, "only BPE")
    }

    /// Random corruption of the fixture tokenizer files never crashes the readers.
    func testFuzzedTokenizerFilesNeverCrash() throws {
        let dir = Fixtures.url("family/tokenizer")
        let spm = try Data(contentsOf: dir.appendingPathComponent("tokenizer.model"))
        let json = try Data(contentsOf: dir.appendingPathComponent("tokenizer.json"))
        var rng = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["SPARKCHAT_TEST_SEED"] ?? "") ?? 7)  // seeded: a failure repeats
        for _ in 0..<100 {
            var a = spm, b = json
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                a[Int.random(in: 0..<a.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if let t = try? SentencePieceTokenizer.fromSentencePieceModel(a.prefix(Int.random(in: 1...a.count, using: &rng))) {
                _ = t.encode("fuzzed <start_of_turn> text é", addBOS: true)
            }
            if let t = try? SentencePieceTokenizer.fromTokenizerJSON(b) { _ = t.encode("fuzzed text", addBOS: true) }
        }
    }
}
