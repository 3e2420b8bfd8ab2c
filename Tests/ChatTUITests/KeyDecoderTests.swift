import Inference
import XCTest

@testable import ChatTUI

final class KeyDecoderTests: XCTestCase {
    /// Feeds the chunks at once, then (`idle`) reports a quiet second, past any escape window.
    func decode(_ chunks: [[UInt8]], idle: Bool = true) -> [Key] {
        var d = KeyDecoder()
        var keys: [Key] = []
        for c in chunks { keys += d.feed(c, now: 0) }
        if idle { keys += d.idle(now: 1) }
        return keys
    }
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testControlKeysAndText() {
        XCTAssertEqual(
            decode([bytes("ab\r\n\u{7f}\u{01}\u{05}\u{0b}\u{15}\u{17}\u{03}")]),
            [.text("ab"), .enter, .newline, .backspace, .ctrl("a"), .ctrl("e"), .ctrl("k"), .ctrl("u"), .ctrl("w"), .ctrl("c")])
    }

    func testEscapeSequencesOfSeveralTerminals() {
        let cases: [(String, Key)] = [
            ("\u{1b}OP", .function(1)), ("\u{1b}OQ", .function(2)), ("\u{1b}OR", .function(3)), ("\u{1b}OS", .function(4)),
            ("\u{1b}[11~", .function(1)), ("\u{1b}[14~", .function(4)), ("\u{1b}[[B", .function(2)), ("\u{1b}[1;2P", .function(1)),
            ("\u{1b}[5~", .pageUp), ("\u{1b}[6~", .pageDown), ("\u{1b}[H", .home), ("\u{1b}[F", .end),
            ("\u{1b}[1~", .home), ("\u{1b}[4~", .end), ("\u{1b}OH", .home), ("\u{1b}[3~", .delete),
            ("\u{1b}[A", .up), ("\u{1b}OB", .down), ("\u{1b}[1;5C", .ctrlRight), ("\u{1b}[D", .left),
            ("\u{1b}\r", .newline), ("\u{1b}[<64;10;5M", .wheelUp), ("\u{1b}[<65;1;1M", .wheelDown),
            ("\u{1b}[M`!!", .wheelUp), ("\u{1b}[Ma!!", .wheelDown)
        ]
        for (seq, key) in cases { XCTAssertEqual(decode([bytes(seq)]), [key], "sequence \(seq.debugDescription)") }
    }

    func testSequenceSplitAcrossReadsWaitsForTheRest() {
        var d = KeyDecoder()
        XCTAssertEqual(d.feed([0x1b]), [])
        XCTAssertEqual(d.feed([0x5b]), [])
        XCTAssertEqual(d.feed(bytes("6~x")), [.pageDown, .text("x")])
    }

    func testLoneEscapeIsEscOnceTheWindowPasses() {
        let w = KeyDecoder.escapeWindow
        var d = KeyDecoder()
        XCTAssertEqual(d.feed([0x1b], now: 10), [])
        XCTAssertEqual(d.idle(now: 10 + w * 0.4), [], "still inside the window: it may be Alt+key")
        XCTAssertEqual(d.idle(now: 10 + w * 1.01), [.escape])
        // A key typed after the window is itself, not Alt+key.
        XCTAssertEqual(d.feed(bytes("b"), now: 10 + w * 2), [.text("b")])
    }

    func testEscapeThenKeyWithinTheWindowIsAltKey() {
        let w = KeyDecoder.escapeWindow
        // One read (how a local terminal sends Alt-b).
        XCTAssertEqual(decode([bytes("\u{1b}b")]), [.alt("b")])
        // Split across two reads inside the window, with a quiet poll between them.
        var d = KeyDecoder()
        XCTAssertEqual(d.feed([0x1b], now: 5), [])
        XCTAssertEqual(d.idle(now: 5 + w * 0.5), [])
        XCTAssertEqual(d.feed(bytes("f"), now: 5 + w * 0.8), [.alt("f")])
        XCTAssertEqual(d.idle(now: 6), [], "nothing left over to become Esc")
        // Alt-Backspace, Alt-d, Alt with a non-ASCII key split inside its UTF-8 bytes.
        XCTAssertEqual(decode([[0x1b, 0x7f], bytes("\u{1b}d")]), [.altBackspace, .alt("d")])
        let e = bytes("é")
        XCTAssertEqual(decode([[0x1b, e[0]], [e[1]]]), [.alt("é")])
        // ESC before a control byte is not Esc either: the control key stays itself.
        XCTAssertEqual(decode([[0x1b, 0x01]]), [.ctrl("a")])
        // Esc, then (after the window) Alt-b: one Esc only.
        var d2 = KeyDecoder()
        XCTAssertEqual(d2.feed([0x1b], now: 0) + d2.idle(now: 1) + d2.feed(bytes("\u{1b}b"), now: 2), [.escape, .alt("b")])
    }

    func testWaitForInputShrinksWhileALoneEscapeIsPending() {
        var d = KeyDecoder()
        XCTAssertEqual(d.inputWaitMs(longest: 30, now: 0), 30)
        _ = d.feed([0x1b], now: 1)
        XCTAssertEqual(d.inputWaitMs(longest: 30, now: 1), Int32((KeyDecoder.escapeWindow * 1000).rounded(.up)))
        XCTAssertEqual(d.inputWaitMs(longest: 30, now: 1 + KeyDecoder.escapeWindow / 2), Int32((KeyDecoder.escapeWindow * 500).rounded(.up)))
        XCTAssertEqual(d.inputWaitMs(longest: 30, now: 2), 0)
        XCTAssertEqual(d.idle(now: 2), [.escape])
        XCTAssertEqual(d.inputWaitMs(longest: 30, now: 2), 30)
    }

    func testWordMoveArrowsOfSeveralTerminals() {
        let cases: [(String, Key)] = [
            ("\u{1b}[1;5D", .ctrlLeft), ("\u{1b}[1;5C", .ctrlRight), ("\u{1b}[1;3D", .ctrlLeft), ("\u{1b}[1;3C", .ctrlRight),
            ("\u{1b}Od", .ctrlLeft), ("\u{1b}Oc", .ctrlRight), ("\u{1b}[1;2C", .right), ("\u{1b}[1;2D", .left)
        ]
        for (seq, key) in cases { XCTAssertEqual(decode([bytes(seq)]), [key], "sequence \(seq.debugDescription)") }
    }

    func testUTF8SplitAcrossReadsAndInvalidBytes() {
        let emoji = bytes("😀")
        var d = KeyDecoder()
        XCTAssertEqual(d.feed(Array(emoji[0..<2])), [])
        XCTAssertEqual(d.feed(Array(emoji[2...]) + bytes("日")), [.text("😀日")])
        // Invalid UTF-8 becomes U+FFFD, never a crash.
        XCTAssertEqual(decode([[0x61, 0xff, 0xfe, 0x62]]), [.text("a\u{FFFD}\u{FFFD}b")])
        XCTAssertEqual(decode([[0xe6, 0x97]]), [.text("\u{FFFD}")])  // truncated at the end, given up on idle
    }

    func testBracketedPasteIsOneBlockEvenWhenSplit() {
        let text = "line one\r\nline two\rthree\u{1b}[31mred\ttab\u{0}"
        let all = bytes("\u{1b}[200~" + text + "\u{1b}[201~") + bytes("z")
        // Split every few bytes, including inside the markers.
        var d = KeyDecoder()
        var keys: [Key] = []
        var i = 0
        while i < all.count { keys += d.feed(Array(all[i..<min(all.count, i + 3)])); i += 3 }
        XCTAssertEqual(keys, [.paste("line one\nline two\nthree[31mred\ttab"), .text("z")])
    }

    func testMegabytePasteDecodesQuickly() {
        let line = String(repeating: "abcdefghij", count: 10) + "\n"
        let body = String(repeating: line, count: 10_000)  // ~1 MB
        let start = Date()
        let keys = decode([bytes("\u{1b}[200~"), bytes(body), bytes("\u{1b}[201~")])
        XCTAssertEqual(keys.count, 1)
        if case .paste(let p) = keys[0] { XCTAssertEqual(p.utf8.count, body.utf8.count) } else { XCTFail("not a paste") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0)
    }

    func testUnterminatedPasteEndsAfterIdle() {
        var d = KeyDecoder()
        XCTAssertEqual(d.feed(bytes("\u{1b}[200~abc")), [])
        var keys: [Key] = []
        for _ in 0..<25 { keys += d.idle() }
        XCTAssertEqual(keys, [.paste("abc")])
    }

    func testRandomBytesNeverCrash() {
        var rng = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["SPARKCHAT_TEST_SEED"] ?? "") ?? 7)  // seeded: a failure repeats
        var d = KeyDecoder()
        for _ in 0..<2000 {
            let n = Int.random(in: 0...40, using: &rng)
            _ = d.feed((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
            if Bool.random(using: &rng) { _ = d.idle() }
        }
    }
}
