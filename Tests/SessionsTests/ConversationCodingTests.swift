import Foundation
import XCTest

@testable import Sessions

final class ConversationCodingTests: XCTestCase {
    func testRoundTripIsExactIncludingUnicodeEmojiAndSubSecondTimes() throws {
        let c = sampleConversation()
        let data = try SessionFile.encode(c)
        let back = try SessionFile.decode(data)
        XCTAssertEqual(back, c)
        XCTAssertEqual(back.messages[0].text, "Héllo wörld 👋🏽 — what's 2+2?\nSecond line «quoted»")
        XCTAssertEqual(back.messages[1].stats?.decodeTPS, .infinity)
        XCTAssertEqual(back.settings.seed, UInt64.max)
        // A second save of the loaded value writes the same bytes: nothing drifts per save.
        XCTAssertEqual(try SessionFile.encode(back), data)
    }

    func testFileIsReadableJSONWithVersionAndISODates() throws {
        let c = sampleConversation()
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: SessionFile.encode(c)) as? [String: Any])
        XCTAssertEqual(json["version"] as? Int, 1)
        XCTAssertEqual(json["id"] as? String, "20261127-050312-a1b2")
        XCTAssertEqual(json["title"] as? String, "Héllo wörld 👋🏽 — what's 2+2?")
        XCTAssertEqual(json["created"] as? String, "2026-11-27T05:03:12.1234567Z")
        let messages = try XCTUnwrap(json["messages"] as? [[String: Any]])
        XCTAssertEqual(messages.count, 4)
        XCTAssertEqual(messages[1]["role"] as? String, "assistant")
        XCTAssertEqual(messages[1]["model"] as? String, "gemma-3-270m")
        XCTAssertEqual(messages[3]["interrupted"] as? Bool, true)
        XCTAssertEqual((messages[1]["stats"] as? [String: Any])?["decodeTPS"] as? String, "inf")
    }

    func testISODatesParseCommonForms() throws {
        let base = Date(timeIntervalSince1970: 1_795_755_792)
        XCTAssertEqual(ISODate.parse("2026-11-27T05:03:12Z"), base)
        XCTAssertEqual(ISODate.parse("2026-11-27t05:03:12z"), base)
        XCTAssertEqual(ISODate.parse("2026-11-27T07:03:12+02:00"), base)
        XCTAssertEqual(ISODate.parse("2026-11-27T00:03:12-05:00"), base)
        XCTAssertEqual(ISODate.parse("2026-11-27T05:03:12.5Z"), base.addingTimeInterval(0.5))
        XCTAssertEqual(ISODate.parse("1970-01-01T00:00:00Z"), Date(timeIntervalSince1970: 0))
        XCTAssertEqual(ISODate.parse("2024-02-29T12:00:00Z"), Date(timeIntervalSince1970: 1_709_208_000))
        for bad in [
            "", "2026-11-27", "2026-11-27T05:03:12", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T05:03:12.Z", "2026-11-27T05:03:12Zjunk",
            "yesterday", "2026-11-27T05:03:12+2:00"
        ] {
            XCTAssertNil(ISODate.parse(bad), bad)
        }
        // Formatting and parsing agree to the bit on random times from 2001 on (and on now),
        // and to the microsecond before that.
        var rng = SeededRandom()  // seeded: a failure repeats
        for _ in 0..<2000 {
            let d = Date(timeIntervalSinceReferenceDate: Double.random(in: 0..<3_200_000_000, using: &rng))
            XCTAssertEqual(ISODate.parse(ISODate.format(d)), d, ISODate.format(d))
        }
        let now = Date()
        XCTAssertEqual(ISODate.parse(ISODate.format(now)), now)
        let old = Date(timeIntervalSince1970: 123_456_789.123_456)
        XCTAssertEqual(try XCTUnwrap(ISODate.parse(ISODate.format(old))).timeIntervalSince(old), 0, accuracy: 1e-6)
        XCTAssertEqual(ISODate.format(old), "1973-11-29T21:33:09.123456Z")
        XCTAssertEqual(ISODate.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00Z")
        XCTAssertEqual(ISODate.format(.distantFuture), "4001-01-01T00:00:00Z")
    }

    func testNewIDsAreFilenameSafeSortableAndDistinct() {
        let t = Date(timeIntervalSince1970: 1_795_755_792)
        let id = Conversation.newID(now: t)
        XCTAssertTrue(id.hasPrefix("20261127-050312-"), id)
        XCTAssertEqual(id.count, 20)
        XCTAssertTrue(SessionStore.isValidID(id))
        XCTAssertLessThan(Conversation.newID(now: t), Conversation.newID(now: t.addingTimeInterval(1)))
        XCTAssertGreaterThan(Set((0..<50).map { _ in Conversation.newID(now: t) }).count, 45)
    }

    func testFirstUserMessageNamesTheConversationUntilRenamed() {
        var c = Conversation()
        XCTAssertEqual(c.title, "New chat")
        c.append(Message(role: .system, text: "ignored"))
        XCTAssertEqual(c.title, "New chat")
        c.append(Message(role: .user, text: "\n   \n  Explain\tthe   KV cache\u{1B}[31m in detail please, with examples of sliding windows\nmore"))
        XCTAssertEqual(c.title, "Explain the KV cache [31m in detail please, with examples o…")
        XCTAssertLessThanOrEqual(c.title.count, 60)
        c.append(Message(role: .user, text: "second question"))
        XCTAssertEqual(c.title, "Explain the KV cache [31m in detail please, with examples o…")

        var renamed = Conversation(title: "My title")
        renamed.append(Message(role: .user, text: "hello"))
        XCTAssertEqual(renamed.title, "My title")
    }

    func testAppendBumpsUpdated() {
        var c = Conversation()
        let later = c.updated.addingTimeInterval(60)
        c.append(Message(role: .user, text: "hi", time: later))
        XCTAssertEqual(c.updated, later)
        c.append(Message(role: .assistant, text: "old", time: later.addingTimeInterval(-3600)))
        XCTAssertEqual(c.updated, later, "updated never goes backwards")
    }

    func testMinimalHandWrittenFileLoadsWithDefaults() throws {
        let json = """
            {"version": 1, "id": "x", "created": "2026-11-27T05:00:00Z",
             "messages": [{"role": "user", "text": "hi", "time": "2026-11-27T05:00:01+00:00"}]}
            """
        let c = try SessionFile.decode(Data(json.utf8))
        XCTAssertEqual(c.title, "New chat")
        XCTAssertEqual(c.updated, c.created)
        XCTAssertEqual(c.settings, SamplingSettings())
        XCTAssertEqual(c.messages.first?.interrupted, false)
        XCTAssertNil(c.messages.first?.stats)
    }

    func testDecodeErrorsAreOneLineAndNameTheField() {
        func reason(_ json: String) -> String {
            do { _ = try SessionFile.decode(Data(json.utf8)); return "decoded" } catch { return "\(error)" }
        }
        XCTAssertEqual(reason(""), "empty file")
        XCTAssertEqual(reason("{\"version\": 1, \"id\": \"x\", \"created\": \"2026"), "not valid JSON: truncated or damaged")
        XCTAssertEqual(reason("{\"id\": \"x\"}"), "version: missing")
        XCTAssertEqual(reason("[1, 2, 3]"), "not a JSON object")
        XCTAssertEqual(reason("null"), "not a JSON object")
        XCTAssertEqual(
            reason("{\"version\": 1, \"id\": \"x\", \"created\": \"2026-11-27T05:00:00Z\", \"messages\": [null]}"),
            "messages[0]: expected a Dictionary<String, Any>, found null")
        XCTAssertEqual(reason("{\"version\": \"one\"}"), "version: expected an integer")
        XCTAssertTrue(reason("{\"version\": 0}").contains("unknown version 0"))
        XCTAssertTrue(
            reason(
                "{\"version\": 1, \"id\": \"x\", \"created\": \"2026-11-27T05:00:00Z\", \"messages\": [{\"role\": \"robot\", \"text\": \"\", \"time\": \"2026-11-27T05:00:00Z\"}]}"
            )
            .hasPrefix("messages[0].role: "))
        XCTAssertEqual(
            reason("{\"version\": 1, \"id\": \"x\", \"created\": \"noon\", \"messages\": []}"),
            "created: expected a date")
        XCTAssertTrue(reason("{\"version\": 2, \"id\": \"x\"}").contains("newer SparkChat (file version 2"))
        for json in ["", "[", "{\"version\": 1}", "null", "\u{0}\u{1}"] {
            XCTAssertFalse(reason(json).contains("\n"))
        }
    }
}
