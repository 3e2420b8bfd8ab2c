import Foundation
import XCTest

@testable import Sessions

/// A damaged session file shows what can still be read: one bad byte or one odd value
/// costs at most the message it is in, and the notice names the field.
final class SessionSalvageTests: XCTestCase {
    let id = "20261127-050312-a1b2"

    /// The sample conversation written as the app writes it, then changed by `damage`.
    func damagedStore(_ damage: (inout String) -> Void) throws -> (SessionStore, Conversation, URL) {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        let c = sampleConversation(id: id)
        var text = String(decoding: try SessionFile.encode(c), as: UTF8.self)
        damage(&text)
        try Data(text.utf8).write(to: store.fileURL(id: id))
        return (store, c, store.fileURL(id: id))
    }

    func replaceFirst(_ text: inout String, _ old: String, _ new: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let r = text.range(of: old) else { XCTFail("\(old) not in the file", file: file, line: line); return }
        text.replaceSubrange(r, with: new)
    }

    func testAFractionalVersionAndAHugeCountKeepEveryMessage() throws {
        let (store, original, url) = try damagedStore { t in
            self.replaceFirst(&t, "\"version\" : 1", "\"version\" : 1.5")
            self.replaceFirst(&t, "\"promptTokens\" : 21", "\"promptTokens\" : 9223372036854775808")
        }
        let before = try Data(contentsOf: url)
        let (c, notice) = try store.open(id: id)
        XCTAssertEqual(c.messages.map(\.text), original.messages.map(\.text), "no message lost")
        XCTAssertNil(c.messages[1].stats, "the unreadable stats are dropped, the reply kept")
        XCTAssertEqual(c.messages[3].stats, original.messages[3].stats)
        XCTAssertEqual(c.systemPrompt, original.systemPrompt)
        XCTAssertEqual(c.settings, original.settings)
        let n = try XCTUnwrap(notice)
        XCTAssertTrue(n.hasPrefix("session \(id) is damaged ("), n)
        XCTAssertTrue(n.contains("version: expected an integer"), n)
        XCTAssertTrue(n.contains("messages[1].stats"), n)
        XCTAssertTrue(n.contains("4 messages read"), n)
        XCTAssertFalse(n.contains("\n"))
        XCTAssertEqual(try Data(contentsOf: url), before, "reading changed nothing")
        XCTAssertEqual(store.list().sessions.first?.messageCount, 4)
    }

    func testABadDateIsNamedAndTheMessageKept() throws {
        let (store, original, _) = try damagedStore { t in
            self.replaceFirst(&t, "\"time\" : \"2026-11-27T05:03:22.", "\"time\" : \"yesterday-ish.")
        }
        let (c, notice) = try store.open(id: id)
        XCTAssertEqual(c.messages.map(\.text), original.messages.map(\.text))
        XCTAssertEqual(c.messages[2].time, c.messages[1].time, "borrows the previous message's time")
        XCTAssertTrue(try XCTUnwrap(notice).contains("messages[2].time: expected a date"), notice ?? "")
    }

    func testAMessageWithoutTextIsSkippedAndTheRestKept() throws {
        let (store, original, _) = try damagedStore { t in
            self.replaceFirst(&t, "\"text\" : \"and 3+3?\"", "\"text\" : 42")
        }
        let (c, notice) = try store.open(id: id)
        XCTAssertEqual(c.messages.map(\.text), original.messages.enumerated().filter { $0.offset != 2 }.map(\.element.text))
        let n = try XCTUnwrap(notice)
        XCTAssertTrue(n.contains("messages[2].text: expected text"), n)
        XCTAssertTrue(n.contains("3 messages read, 1 skipped"), n)
    }

    /// A byte that breaks the JSON itself: the file no longer parses at all, yet only the
    /// message holding the byte is lost.
    func testOneBadByteLosesOnlyItsMessage() throws {
        let (store, original, url) = try damagedStore { t in
            self.replaceFirst(&t, "\"role\" : \"user\",\n      \"text\" : \"and 3+3?\"", "\"role\" : \"user\",\n      \"text\" : \"and \"3+3?\"")
        }
        XCTAssertNil(try? JSONSerialization.jsonObject(with: try Data(contentsOf: url)), "the damage breaks the JSON")
        let (c, notice) = try store.open(id: id)
        XCTAssertEqual(c.messages.map(\.text), original.messages.enumerated().filter { $0.offset != 2 }.map(\.element.text))
        XCTAssertEqual(c.title, original.title)
        XCTAssertEqual(c.systemPrompt, original.systemPrompt)
        XCTAssertEqual(c.created, original.created)
        XCTAssertEqual(c.messages[2].stats, original.messages[3].stats)
        XCTAssertTrue(try XCTUnwrap(notice).contains("messages[2] skipped: damaged (lines"), notice ?? "")
    }

    func testInvalidUTF8IsReplacedNotFatal() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        var bytes = Array(try SessionFile.encode(sampleConversation(id: id)))
        let at = try XCTUnwrap(bytes.firstIndex(of: UInt8(ascii: "H")), "the first user message starts with H")
        bytes[at] = 0xFF
        try Data(bytes).write(to: store.fileURL(id: id))
        let (c, notice) = try store.open(id: id)
        XCTAssertEqual(c.messages.count, 4)
        XCTAssertTrue(c.messages[0].text.hasPrefix("\u{FFFD}éllo"), c.messages[0].text)
        XCTAssertTrue(try XCTUnwrap(notice).contains("invalid UTF-8"), notice ?? "")
    }

    /// A file cut off mid-message (copied from a full disk, say) keeps the complete messages.
    func testATruncatedFileKeepsTheCompleteMessages() throws {
        let (store, original, _) = try damagedStore { t in
            let cut = t.range(of: "and 3+3?")!.lowerBound
            t = String(t[..<cut])
        }
        let (c, notice) = try store.open(id: id)
        XCTAssertEqual(c.messages.map(\.text), Array(original.messages.prefix(2)).map(\.text))
        XCTAssertNotNil(notice)
    }

    /// A salvaged session is saved again only after its damaged original is moved aside.
    func testSavingASalvagedSessionKeepsTheOriginalAside() throws {
        let (store, _, url) = try damagedStore { t in self.replaceFirst(&t, "\"version\" : 1", "\"version\" : 1.5") }
        let damaged = try Data(contentsOf: url)
        var (c, _) = try store.open(id: id)
        c.append(Message(role: .user, text: "one more"))
        try store.save(c)
        let aside = try XCTUnwrap(store.movedAside)
        XCTAssertEqual(try Data(contentsOf: store.directory.appendingPathComponent(aside)), damaged)
        let (reread, notice) = try store.open(id: id)
        XCTAssertNil(notice, "the new file is clean")
        XCTAssertEqual(reread.messages.count, 5)
    }

    func testStrictErrorsNameTheField() throws {
        let bad = Data(#"{"version": 1, "id": "x", "created": "2026-11-27T05:00:00Z", "messages": [{"role": "user", "text": "hi", "time": 5}]}"#.utf8)
        XCTAssertThrowsError(try SessionFile.decode(bad)) { XCTAssertEqual("\($0)", "messages[0].time: expected text") }
        let badDate = Data(#"{"version": 1, "id": "x", "created": "soon", "messages": []}"#.utf8)
        XCTAssertThrowsError(try SessionFile.decode(badDate)) { XCTAssertEqual("\($0)", "created: expected a date") }
    }

    /// Found by the session fuzzer: an invalid role is quoted in the error, newlines and all.
    func testAnErrorQuotingTheFileStaysOneLine() throws {
        let role = "syst\\ngons" + String(repeating: "\\r", count: 3000)
        let bad = Data(
            #"{"version": 1, "id": "x", "created": "2026-11-27T05:00:00Z", "messages": [{"role": "\#(role)", "text": "hi", "time": "2026-11-27T05:00:00Z"}]}"#
                .utf8)
        XCTAssertThrowsError(try SessionFile.decode(bad)) { e in
            XCTAssertFalse("\(e)".contains("\n") || "\(e)".contains("\r"), "\(e)")
            XCTAssertLessThan("\(e)".count, 400)
            XCTAssertTrue("\(e)".hasPrefix("messages[0].role"), "\(e)")
        }
    }
}
