import XCTest

@testable import ChatTUI

/// The commands and keys users bring from other chat tools: /retry, /edit, /copy code,
/// Alt word keys, Ctrl-R.
final class ChatHabitsTests: XCTestCase {
    func ok(_ s: String) -> SlashCommand? { if case .success(let c)? = SlashCommands.parse(s) { return c }; return nil }
    func error(_ s: String) -> String? { if case .failure(let e)? = SlashCommands.parse(s) { return e.description }; return nil }

    func testRetryEditAndCopyCodeParse() {
        XCTAssertEqual(ok("/retry"), .retry)
        XCTAssertEqual(ok("  /REGEN "), .retry)
        XCTAssertEqual(ok("/edit"), .edit)
        XCTAssertEqual(ok("/copy"), .copy)
        XCTAssertEqual(ok("/copy code"), .copyCode(nil))
        XCTAssertEqual(ok("/copy CODE 2"), .copyCode(2))
        XCTAssertEqual(error("/copy code 0"), "/copy code N: N counts the code blocks from 1")
        XCTAssertEqual(error("/copy code two"), "/copy code N: N counts the code blocks from 1")
        XCTAssertEqual(error("/copy code 1 2"), "/copy takes nothing (the last reply) or code [N] (its N-th code block, from 1)")
        XCTAssertEqual(error("/copy all"), "/copy takes nothing (the last reply) or code [N] (its N-th code block, from 1)")
        XCTAssertEqual(error("/retry now"), "/retry takes no argument")
        XCTAssertEqual(error("/edit 3"), "/edit takes no argument (it edits your last message)")
        XCTAssertNil(SlashCommands.parse("//retry"), "a doubled slash sends the text")
    }

    func testAltAndCtrlWordKeysAndHistorySearch() {
        XCTAssertEqual(Keymap.chat(.alt("b"), inputEmpty: false), .wordLeft)
        XCTAssertEqual(Keymap.chat(.alt("f"), inputEmpty: false), .wordRight)
        XCTAssertEqual(Keymap.chat(.alt("d"), inputEmpty: false), .deleteWordForward)
        XCTAssertEqual(Keymap.chat(.altBackspace, inputEmpty: false), .deleteWordBack)
        XCTAssertEqual(Keymap.chat(.ctrlLeft, inputEmpty: false), .wordLeft)
        XCTAssertEqual(Keymap.chat(.ctrlRight, inputEmpty: false), .wordRight)
        XCTAssertEqual(Keymap.chat(.ctrl("r"), inputEmpty: true), .historySearch)
        // Alt with any other key does nothing, and above all does not stop the reply.
        XCTAssertEqual(Keymap.chat(.alt("x"), inputEmpty: true), ChatAction.none)
        XCTAssertEqual(Keymap.chat(.escape, inputEmpty: true), .stop)
    }

    func testHelpListsTheNewKeysAndCommands() {
        let all = HelpOverlay.lines.map { "\($0.0) \($0.1)" }.joined(separator: "\n")
        for s in ["Alt-B / Alt-F", "Alt-Backspace / Alt-D", "Ctrl-R", "/retry", "/edit", "/copy code [N]"] {
            XCTAssertTrue(all.contains(s), s)
        }
    }

    func testHelpScrollsInAShortWindowAndNotInATallOne() {
        let short = Rect(x: 0, y: 0, width: 80, height: 24)
        let tall = Rect(x: 0, y: 0, width: 120, height: 60)
        XCTAssertEqual(HelpOverlay.maxScroll(screen: tall), 0)
        let most = HelpOverlay.maxScroll(screen: short)
        XCTAssertEqual(most, HelpOverlay.lines.count - (24 - 2))
        var c = Canvas(width: 80, height: 24)
        HelpOverlay.render(into: &c, screen: short, scroll: most + 5)  // clamped
        let shown = (0..<24).map { y in (0..<80).map { c[$0, y].text }.joined() }.joined(separator: "\n")
        XCTAssertTrue(shown.contains("/quit"), "scrolled to the end, the last command shows\n\(shown)")
        XCTAssertFalse(shown.contains("Alt-Enter, Ctrl-J"), "the first keys scrolled out\n\(shown)")
        XCTAssertEqual(HelpOverlay.scrollStep(.down), 1)
        XCTAssertEqual(HelpOverlay.scrollStep(.pageUp), -10)
        XCTAssertNil(HelpOverlay.scrollStep(.escape))
    }
}
