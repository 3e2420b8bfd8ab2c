import Foundation
import XCTest

@testable import Inference

/// The Gemma 3 tokenizer (read from the real GGUF) against committed reference ids
/// (Tests/Fixtures/tokenizer/gemma3_tokenizer_reference.json, made by
/// scripts/fixtures/tokenizer_reference.py from llama.cpp / sentencepiece on the same
/// vocabulary, cross-checked with Hugging Face): prose, code, unicode, emoji, CJK,
/// whitespace runs, digits, and chat control tokens; decoding, whole and streamed.
final class TokenizerReferenceTests: XCTestCase {
    struct Case { let text: String; let ids: [Int]; let decoded: String; let hf: [Int]? }

    nonisolated(unsafe) private static var cachedTokenizer: SentencePieceTokenizer?
    static func tokenizer() throws -> SentencePieceTokenizer {
        if let t = cachedTokenizer { return t }
        guard FileManager.default.fileExists(atPath: RealModel.path) else { throw XCTSkip("real model absent") }
        let t = try SentencePieceTokenizer.fromGGUF(GGUFFile(path: RealModel.path))
        cachedTokenizer = t
        return t
    }

    static func cases() throws -> [Case] {
        let root = try XCTUnwrap(try Fixtures.json("tokenizer/gemma3_tokenizer_reference.json") as? [String: Any])
        return try XCTUnwrap(root["cases"] as? [[String: Any]]).map { c in
            let refs = c["references"] as? [String: Any]
            // The exact bytes (base64): JSON readers may drop a U+FEFF inside a string.
            func utf8(_ key: String) throws -> String {
                String(decoding: try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(c[key] as? String))), as: UTF8.self)
            }
            return Case(
                text: try utf8("utf8"), ids: try XCTUnwrap(c["ids"] as? [Int]),
                decoded: try utf8("decoded_utf8"), hf: refs?["hf"] as? [Int])
        }
    }

    func testIdsMatchTheReferenceOnEveryString() throws {
        let tok = try Self.tokenizer()
        let cases = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, 50)
        var matched = 0
        for c in cases {
            let got = tok.encode(c.text, addBOS: false)
            XCTAssertEqual(got, c.ids, "\(c.text.debugDescription)")
            XCTAssertEqual(tok.encode(c.text, addBOS: true), [tok.bosId] + c.ids)
            if got == c.ids { matched += 1 }
        }
        print("tokenizer: \(matched)/\(cases.count) strings identical to the reference")
    }

    /// Where Hugging Face's GGUF-built tokenizer disagrees (long whitespace runs, docs/ARCHITECTURE.md
    /// §7) the fixture records it; we follow llama.cpp, so we must differ from HF there.
    func testKnownHuggingFaceDifferencesFollowLlamaCpp() throws {
        let tok = try Self.tokenizer()
        let differing = try Self.cases().filter { $0.hf != nil }
        XCTAssertTrue(differing.contains { $0.text == String(repeating: " ", count: 40) }, "the 40-space case is on record")
        for c in differing {
            let got = tok.encode(c.text, addBOS: false)
            XCTAssertEqual(got, c.ids)
            XCTAssertNotEqual(got, c.hf)
        }
        // 40 spaces: the 31-space token (id 167) then the 9-space one, not 16 + 24.
        XCTAssertEqual(tok.encode(String(repeating: " ", count: 40), addBOS: false), [167, 145])
    }

    func testDecodeRoundTrips() throws {
        let tok = try Self.tokenizer()
        for c in try Self.cases() {
            XCTAssertEqual(tok.decode(c.ids), c.decoded, "\(c.text.debugDescription)")
        }
    }

    /// Token-by-token decoding through StreamingDecoder never emits half a character
    /// (no U+FFFD from a UTF-8 sequence split over byte-fallback tokens) and adds up to
    /// the full decode.
    func testStreamingDecodeEqualsFullDecode() throws {
        let tok = try Self.tokenizer()
        var splitCharacters = 0
        for c in try Self.cases() {
            var s = StreamingDecoder()
            var streamed = ""
            for id in c.ids {
                let piece = tok.pieceBytes(id)
                if tok.types[id] == .byte, let b = piece.first, b >= 0x80 { splitCharacters += 1 }
                let out = s.push(piece)
                if !c.decoded.contains("\u{FFFD}") { XCTAssertFalse(out.contains("\u{FFFD}"), "\(c.text.debugDescription)") }
                streamed += out
            }
            streamed += s.flush()
            XCTAssertEqual(streamed, tok.decode(c.ids), "\(c.text.debugDescription)")
        }
        // The fixture must exercise the hard case: characters spelled as several byte tokens.
        XCTAssertGreaterThan(splitCharacters, 4)
    }

    func testStreamingDecoderHoldsBackIncompleteCharacters() {
        var s = StreamingDecoder()
        let emoji = Array("👨‍👩‍👧".utf8) + Array("é".utf8)
        var out = ""
        for (i, b) in emoji.enumerated() {
            let piece = s.push([b])
            XCTAssertFalse(piece.contains("\u{FFFD}"), "byte \(i)")
            out += piece
        }
        XCTAssertEqual(out + s.flush(), "👨‍👩‍👧é")
        // A sequence cut off for good comes out as U+FFFD at flush, not before.
        var t = StreamingDecoder()
        XCTAssertEqual(t.push([0x61, 0xF0, 0x9F]), "a")
        XCTAssertEqual(t.flush(), "\u{FFFD}")
    }

    /// Random strings from a pool of hard pieces (whitespace runs, emoji with joiners,
    /// CJK, combining marks, rare scripts that fall back to bytes, control tokens):
    /// every id is in the vocabulary, and decoding gives the text back minus the
    /// control tokens, whole and streamed.
    func testRandomStringsRoundTrip() throws {
        let tok = try Self.tokenizer()
        let atoms = [
            " ", "  ", "\n", "\t", "\r\n", "a", "Z", "the", " of", "ing", "7", "42", "é", "e\u{301}", "ß",
            "東", "京", "한", "ع", "ש", "😀", "👨‍👩‍👧", "🇫🇷", "𝔘", "\u{1F9EC}", "\u{10FFFF}", "\u{feff}", "\u{0}",
            "<", ">", "<b>", "<0x41>", String(repeating: " ", count: 37), String(repeating: "\n", count: 33)
        ]
        // Not "▁": SentencePiece reads U+2581 in text as a space (llama.cpp too), so it cannot round-trip.
        let controls = ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<unk>"]
        var rng = SplitMix64(seed: 2718)
        let start = Date()
        let n = 1000
        for _ in 0..<n {
            var text = "", expected = ""
            for _ in 0..<Int(rng.next() % 40) {
                if rng.next() % 12 == 0 {
                    text += controls[Int(rng.next() % UInt64(controls.count))]
                } else {
                    let a = atoms[Int(rng.next() % UInt64(atoms.count))]
                    text += a; expected += a
                }
            }
            let ids = tok.encode(text, addBOS: false)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < tok.vocabularySize })
            XCTAssertEqual(tok.decode(ids), expected, text.debugDescription)
            var s = StreamingDecoder()
            XCTAssertEqual(ids.map { s.push(tok.pieceBytes($0)) }.joined() + s.flush(), expected)
        }
        print("tokenizer: \(n) random strings round-tripped in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
    }

    // MARK: llama.cpp semantics on a small vocabulary (no model file needed)

    func tinyTokenizer(addSpacePrefix: Bool) throws -> SentencePieceTokenizer {
        var w = GGUFWriter.tinyGemma3()
        w.set("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix))
        return try SentencePieceTokenizer.fromGGUF(GGUFWriter.parse(w.bytes()))
    }

    func testUnknownTokenWrittenInTextIsSpecial() throws {
        let tok = try tinyTokenizer(addSpacePrefix: false)
        XCTAssertEqual(tok.encode("<unk>", addBOS: false), [3])
        XCTAssertEqual(tok.decode([3]), "", "unknown tokens vanish in decoding, as in llama.cpp")
    }

    func testSpacePrefixFollowsEverySpecialToken() throws {
        let tok = try tinyTokenizer(addSpacePrefix: true)
        let spaceA = try XCTUnwrap(tok.pieces.firstIndex(of: "▁a"))
        // llama.cpp: " " is prepended to the first text and to any text right after a special token.
        XCTAssertEqual(tok.encode("a<start_of_turn>a", addBOS: false), [spaceA, 4, spaceA])
        XCTAssertEqual(
            try tinyTokenizer(addSpacePrefix: false).encode("a<start_of_turn>a", addBOS: false).first,
            tok.pieces.firstIndex(of: "a"))
    }
}
