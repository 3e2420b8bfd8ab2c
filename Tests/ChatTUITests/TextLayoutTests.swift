import Sessions
import XCTest

@testable import ChatTUI

final class TextLayoutTests: XCTestCase {
    override func setUp() { TextWidth.ensureUTF8Locale() }

    func testWidthsFollowWcwidth() {
        XCTAssertEqual(TextWidth.of("a"), 1)
        XCTAssertEqual(TextWidth.of("日"), 2)
        XCTAssertEqual(TextWidth.of("😀"), 2)
        XCTAssertEqual(TextWidth.of("e\u{301}"), 1)
        XCTAssertEqual(TextWidth.of("한국어 ok"), 9)
    }

    func testWrapBreaksAtSpacesAndNeverSplitsWideCharacters() {
        XCTAssertEqual(TextWrap.wrap("the quick brown fox", width: 10), ["the quick", "brown fox"])
        XCTAssertEqual(TextWrap.wrap("abcdefghijkl", width: 5), ["abcde", "fghij", "kl"])
        XCTAssertEqual(TextWrap.wrap("a\n\nb", width: 5), ["a", "", "b"])
        for w in 1...12 {
            for row in TextWrap.wrap("日本語のテキスト 😀😀 mixed ascii", width: w) {
                XCTAssertLessThanOrEqual(TextWidth.of(row), max(w, 2), "width \(w): \(row)")
            }
        }
    }

    func testCanvasClipsAndBlanksWideCharactersAtTheEdge() {
        var c = Canvas(width: 5, height: 2)
        c.put("ab日本", x: 0, y: 0, role: .normal)  // 日 at cols 2-3, 本 would need 4-5
        XCTAssertEqual(c.row(0), "ab日 ")
        c.put("x", x: 3, y: 0, role: .normal)  // overwrite the right half of 日
        XCTAssertEqual(c.row(0), "ab x ")
        c.put("\u{1b}[31m", x: 0, y: 1, role: .normal)  // controls are drawn as ?
        XCTAssertEqual(c.row(1), "?[31m")
        c.put("zzz", x: -10, y: 7, role: .normal)  // off-canvas writes are ignored
    }

    func testLayoutFitsEverySize() {
        for w in 0...130 {
            for h in [0, 1, 2, 3, 4, 5, 8, 13, 20, 40] {
                for stats in [false, true] {
                    let l = Layout.compute(width: w, height: h, inputLines: 3, showStats: stats)
                    let rects = [l.title, l.transcript, l.separator, l.input, l.status] + (l.stats.map { [$0] } ?? [])
                    for r in rects {
                        XCTAssertTrue(r.x >= 0 && r.y >= 0 && r.maxX <= w && r.maxY <= h, "\(w)x\(h): \(r)")
                    }
                    XCTAssertEqual(
                        l.title.height + l.transcript.height + l.separator.height + l.input.height + l.status.height
                            + (l.stats.map { $0.y < l.transcript.y + l.transcript.height || $0.x > 0 ? 0 : $0.height } ?? 0),
                        h, "\(w)x\(h) rows")
                    if h > 0 { XCTAssertGreaterThanOrEqual(l.input.height, 1) }
                }
            }
        }
    }

    func message(_ role: Role, _ text: String) -> Message { Message(role: role, text: text, model: role == .assistant ? "alpha" : nil) }

    func testTranscriptShowsRolesModelsAndCodeBlocks() {
        let lines = TranscriptView.layout(
            Message(role: .assistant, text: "Here:\n```swift\nlet x = 1\n```\ndone", model: "beta"),
            width: 40, streaming: false)
        XCTAssertTrue(lines[0].text.contains("beta"))
        XCTAssertEqual(lines[0].role, .assistant)
        XCTAssertEqual(lines.first { $0.text == "let x = 1" }?.role, .code)
        XCTAssertEqual(lines.first { $0.text == "done" }?.role, .normal)
        let cut = TranscriptView.layout(Message(role: .assistant, text: "par", interrupted: true), width: 40, streaming: false)
        XCTAssertTrue(cut.contains { $0.role == .interrupted })
    }

    func testNewOutputDoesNotMoveAScrolledUpView() {
        let view = TranscriptView()
        var msgs = (0..<20).map { message($0 % 2 == 0 ? .user : .assistant, "message \($0)") }
        var c = Canvas(width: 30, height: 10)
        let rect = Rect(x: 0, y: 0, width: 30, height: 10)
        view.render(msgs, streaming: nil, into: &c, rect: rect)
        XCTAssertTrue((0..<10).map { c.row($0) }.joined().contains("message 19"))
        view.pageUp()
        view.render(msgs, streaming: nil, into: &c, rect: rect)
        let before = (0..<10).map { c.row($0) }
        msgs[19].text += "\nmore\nand more\nstreaming in"
        msgs.append(message(.user, "another"))
        view.render(msgs, streaming: nil, into: &c, rect: rect)
        XCTAssertEqual((0..<9).map { c.row($0) }, Array(before[0..<9]), "rows under the reader moved")
        view.toBottom()
        view.render(msgs, streaming: nil, into: &c, rect: rect)
        XCTAssertTrue((0..<10).map { c.row($0) }.joined().contains("another"))
    }
}
