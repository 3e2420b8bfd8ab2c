import XCTest

@testable import ChatTUI

final class HistorySearchTests: XCTestCase {
    let history = ["git status", "make test", "Write a poem", "git commit -m fix", "git status", "ls"]

    func testTypingFindsTheNewestMatchAndNarrows() {
        var s = HistorySearch(entries: history)
        XCTAssertNil(s.accepted)
        s.type("g")
        XCTAssertEqual(s.accepted, "git status", "the newest entry holding the query")
        XCTAssertEqual(s.match, 4)
        s.type("it c")
        XCTAssertEqual(s.accepted, "git commit -m fix", "a longer query moves back from the current match")
        s.backspace(); s.backspace()
        XCTAssertEqual(s.query, "git")
        XCTAssertEqual(s.accepted, "git status", "a shorter query starts again from the newest")
    }

    func testCtrlRStepsOlderAndCtrlSNewer() {
        var s = HistorySearch(entries: history)
        s.type("git")
        XCTAssertEqual(s.match, 4)
        s.older()
        XCTAssertEqual(s.accepted, "git commit -m fix")
        s.older()
        XCTAssertEqual(s.match, 0)
        s.older()
        XCTAssertTrue(s.failing, "nothing older")
        XCTAssertEqual(s.match, 0)
        s.newer()
        XCTAssertEqual(s.accepted, "git commit -m fix")
        XCTAssertFalse(s.failing)
        // A run of equal entries takes one press, not one per copy.
        var d = HistorySearch(entries: ["ls -l", "pwd", "ls", "ls -a", "ls -a"])
        d.type("ls")
        XCTAssertEqual(d.match, 4)
        d.older()
        XCTAssertEqual(d.accepted, "ls")
    }

    func testCaseInsensitiveFailingAndEmptyQuery() {
        var s = HistorySearch(entries: history)
        s.type("POEM")
        XCTAssertEqual(s.accepted, "Write a poem")
        s.type("x")
        XCTAssertTrue(s.failing)
        XCTAssertEqual(s.accepted, "Write a poem", "a failed step keeps the last match, as readline does")
        XCTAssertTrue(s.statusLine.contains("no match for “POEMx”"), s.statusLine)
        // Ctrl-R with an empty query walks the entries one by one.
        var e = HistorySearch(entries: history)
        e.older(); XCTAssertEqual(e.accepted, "ls")
        e.older(); XCTAssertEqual(e.accepted, "git status")
        var none = HistorySearch(entries: [])
        none.type("a"); none.older(); none.newer()
        XCTAssertNil(none.accepted)
        XCTAssertTrue(none.failing)
    }
}
