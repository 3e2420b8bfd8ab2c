import XCTest

@testable import ChatTUI

final class InputEditorTests: XCTestCase {
    override func setUp() { TextWidth.ensureUTF8Locale() }

    func testLeftRightStepOverWholeClusters() {
        var e = InputEditor()
        e.insert("a日😀e\u{301}👍🏽")
        XCTAssertEqual(e.chars.count, 5)
        e.left(); e.left()  // before e + combining accent
        e.backspace()  // deletes the emoji
        XCTAssertEqual(e.text, "a日e\u{301}👍🏽")
        e.right(); e.insert("X")
        XCTAssertEqual(e.text, "a日e\u{301}X👍🏽")
    }

    func testEmacsKeys() {
        var e = InputEditor(text: "hello brave world")
        e.deleteWordBackward()
        XCTAssertEqual(e.text, "hello brave ")
        e.moveToLineStart(); e.right()
        e.killToLineEnd()
        XCTAssertEqual(e.text, "h")
        e.insert("ey you"); e.left(); e.left(); e.left()
        e.killToLineStart()
        XCTAssertEqual(e.text, "you")
        XCTAssertEqual(e.cursor, 0)
        e.moveToLineEnd()
        XCTAssertEqual(e.cursor, 3)
    }

    func testMultiLineEditingKeepsLinesApart() {
        var e = InputEditor(text: "first")
        e.newline(); e.insert("second line")
        e.up()
        XCTAssertEqual(e.cursor, 5)  // column clamped to the shorter line
        e.moveToLineStart(); e.killToLineEnd()  // Ctrl-K on one line leaves the other
        XCTAssertEqual(e.text, "\nsecond line")
        e.killToLineEnd()  // at the end of an empty line: joins
        XCTAssertEqual(e.text, "second line")
    }

    func testHistoryWalksBackAndRestoresTheDraft() {
        var e = InputEditor()
        e.insert("one"); _ = e.take()
        e.insert("two"); _ = e.take()
        e.insert("draft")
        e.up(); XCTAssertEqual(e.text, "two")
        e.up(); XCTAssertEqual(e.text, "one")
        e.up(); XCTAssertEqual(e.text, "one")
        e.down(); XCTAssertEqual(e.text, "two")
        e.down(); XCTAssertEqual(e.text, "draft")
    }

    func testLayoutCountsWideCharactersAsTwoColumns() {
        let e = InputEditor(text: "日本語日本")  // 10 columns
        let l = e.layout(width: 6)
        XCTAssertEqual(l.rows, ["日本語", "日本"])
        XCTAssertEqual(l.cursorRow, 1); XCTAssertEqual(l.cursorColumn, 4)
        // A wide character never straddles the edge: width 5 fits two, not two and a half.
        XCTAssertEqual(InputEditor(text: "日本語").layout(width: 5).rows, ["日本", "語"])
    }

    func testHugeInputIsCutNotCrashing() {
        var e = InputEditor()
        XCTAssertFalse(e.insert(String(repeating: "x", count: InputEditor.maxCharacters + 10)))
        XCTAssertEqual(e.chars.count, InputEditor.maxCharacters)
        var c = Canvas(width: 40, height: 5)
        XCTAssertNotNil(e.render(into: &c, rect: Rect(x: 0, y: 2, width: 40, height: 3), placeholder: ""))
    }

    func testAltWordMotionsStepOverPunctuation() {
        var e = InputEditor(text: "say hello, wörld-wide 42")
        e.wordLeft(); XCTAssertEqual(e.cursor, 22)  // start of "42"
        e.wordLeft(); XCTAssertEqual(e.cursor, 17)  // start of "wide": "-" separates words
        e.wordLeft(); e.wordLeft(); XCTAssertEqual(e.cursor, 4)  // over ", " to "hello"
        e.wordRight(); XCTAssertEqual(e.cursor, 9)  // end of "hello", before ","
        e.wordRight(); XCTAssertEqual(e.cursor, 16)  // end of "wörld" (ö is a letter)
        e.moveToLineStart(); e.wordLeft(); XCTAssertEqual(e.cursor, 0)
        e.moveToLineEnd(); e.wordRight(); XCTAssertEqual(e.cursor, e.chars.count)
    }

    func testAltWordDeletes() {
        var e = InputEditor(text: "alpha beta.gamma")
        e.deleteWordBefore()  // Alt-Backspace: "gamma"
        XCTAssertEqual(e.text, "alpha beta.")
        e.deleteWordBefore()  // the "." goes with "beta"
        XCTAssertEqual(e.text, "alpha ")
        e.moveToLineStart()
        e.deleteWordAfter()  // Alt-d: "alpha"
        XCTAssertEqual(e.text, " ")
        XCTAssertEqual(e.cursor, 0)
        var m = InputEditor(text: "one\ntwo")
        m.moveToLineStart()
        m.deleteWordBefore()  // across the newline into "one"
        XCTAssertEqual(m.text, "two")
    }

    func testSavedHistoryAndReplace() {
        var e = InputEditor()
        e.setHistory(["old one", "multi\nline"])
        e.up(); XCTAssertEqual(e.text, "multi\nline")
        e.up(); XCTAssertEqual(e.text, "multi\nline", "Up inside a multi-line entry moves a line first")
        XCTAssertEqual(e.cursor, 4, "same column (4) on the line above")
        e.up(); XCTAssertEqual(e.text, "old one")
        e.replace(with: "edited")
        XCTAssertEqual(e.cursor, 6)
        XCTAssertEqual(e.take(), "edited")
        XCTAssertEqual(e.history, ["old one", "multi\nline", "edited"])
        e.setHistory((0..<1500).map { "entry \($0)" })
        XCTAssertEqual(e.history.count, InputHistory.limit)
        XCTAssertEqual(e.history.first, "entry 500")
    }
}
