import Foundation
import XCTest

@testable import ChatTUI

final class InputHistoryTests: XCTestCase {
    var dir: URL!
    var file: URL { dir.appendingPathComponent("sparkchat/history") }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sc-history-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if let d = dir {
            chmod(d.appendingPathComponent("sparkchat").path, 0o700)
            try? FileManager.default.removeItem(at: d)
        }
    }

    func testPathFollowsXDGStateHome() {
        XCTAssertEqual(InputHistory.defaultURL(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]).path, "/s/sparkchat/history")
        XCTAssertEqual(InputHistory.defaultURL(environment: ["HOME": "/h"]).path, "/h/.local/state/sparkchat/history")
        // The XDG spec: a relative value is ignored.
        XCTAssertEqual(InputHistory.defaultURL(environment: ["XDG_STATE_HOME": "rel", "HOME": "/h"]).path, "/h/.local/state/sparkchat/history")
    }

    func testEntriesPersistOnePerLineAndReloadInOrder() throws {
        var h = InputHistory.load(from: file).history
        XCTAssertEqual(h.entries, [])
        for t in ["first", "two\nlines \"quoted\" \\ ", "first", "first", "日本 😀"] { XCTAssertNil(h.append(t)) }
        XCTAssertEqual(h.entries, ["first", "two\nlines \"quoted\" \\ ", "first", "日本 😀"], "a repeat of the last entry is not added")
        let raw = try String(contentsOf: file, encoding: .utf8)
        XCTAssertEqual(raw.split(separator: "\n").count, 4, "one line per entry, newlines inside escaped:\n\(raw)")
        var st = stat()
        XCTAssertEqual(stat(file.path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "the history is private")
        let (again, notice) = InputHistory.load(from: file)
        XCTAssertNil(notice)
        XCTAssertEqual(again.entries, h.entries)
    }

    func testLoadKeepsTheNewestAndTrimsABigFile() throws {
        var h = InputHistory.load(from: file).history
        let n = InputHistory.trimAt + 10
        for i in 0..<n { _ = h.append("entry \(i)") }
        XCTAssertEqual(h.entries.count, InputHistory.limit, "memory is bounded while running")
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8).split(separator: "\n").count, n, "appends only, no rewrite per entry")
        let loaded = InputHistory.load(from: file)
        XCTAssertNil(loaded.notice)
        XCTAssertEqual(loaded.history.entries.count, InputHistory.limit)
        XCTAssertEqual(loaded.history.entries.first, "entry \(n - InputHistory.limit)")
        XCTAssertEqual(loaded.history.entries.last, "entry \(n - 1)")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, InputHistory.limit, "the file was trimmed on load")
        XCTAssertEqual(InputHistory.load(from: file).history.entries, loaded.history.entries)
    }

    func testCorruptLinesAreSkippedWithANotice() throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        var bytes = Data("\"good one\"\nnot json\n".utf8)
        bytes.append(contentsOf: [0xff, 0xfe, 0x00, 0x0a])  // binary junk
        bytes.append(Data("\"cut in the mid".utf8))  // a write cut short (no newline)
        bytes.append(Data("\n\"good two\"\n".utf8))
        try bytes.write(to: file)
        let (h, notice) = InputHistory.load(from: file)
        XCTAssertEqual(h.entries, ["good one", "good two"])
        XCTAssertEqual(notice, "input history: skipped 3 unreadable lines in \(file.path)")
        // Appending after the junk still gives a file that loads.
        var h2 = h
        XCTAssertNil(h2.append("three"))
        XCTAssertEqual(InputHistory.load(from: file).history.entries, ["good one", "good two", "three"])
    }

    func testUnreadableOrUnwritableHistoryIsANoticeNotACrash() throws {
        // The history path is a directory: nothing loads, appends fail once with a notice.
        try FileManager.default.createDirectory(at: file, withIntermediateDirectories: true)
        var (h, notice) = InputHistory.load(from: file)
        XCTAssertEqual(h.entries, [])
        XCTAssertEqual(notice, "input history not loaded: \(file.path): Is a directory")
        XCTAssertEqual(h.append("hello"), "input history not saved: Is a directory")
        XCTAssertNil(h.append("again"), "one notice, not one per message")
        XCTAssertEqual(h.entries, ["hello", "again"], "the history still works in memory")
        try FileManager.default.removeItem(at: file)

        guard getuid() != 0 else { return }  // root reads any file: the permission case needs a user
        try Data("\"x\"\n".utf8).write(to: file)
        chmod(file.path, 0)
        defer { chmod(file.path, 0o600) }
        (h, notice) = InputHistory.load(from: file)
        XCTAssertEqual(h.entries, [])
        XCTAssertNotNil(notice)
    }

    func testHugeEntriesStayInMemoryAndAHugeFileIsReadFromItsTail() throws {
        var h = InputHistory.load(from: file).history
        let big = String(repeating: "x", count: InputHistory.maxEntryBytes + 1)
        XCTAssertNil(h.append("small"))
        XCTAssertNil(h.append(big))
        XCTAssertEqual(h.entries.last, big)
        XCTAssertEqual(InputHistory.load(from: file).history.entries, ["small"])

        // A file past maxReadBytes: the first (cut) line of the tail is dropped, the rest loads.
        let line = try XCTUnwrap(InputHistory.line(String(repeating: "y", count: 60_000)))
        var data = Data()
        while data.count <= InputHistory.maxReadBytes + line.count { data.append(line) }
        data.append(try XCTUnwrap(InputHistory.line("newest")))
        try data.write(to: file)
        let (tail, notice) = InputHistory.load(from: file)
        XCTAssertNil(notice)
        XCTAssertEqual(tail.entries.last, "newest")
        XCTAssertLessThanOrEqual(tail.entries.count, InputHistory.maxReadBytes / line.count + 1)
    }
}
