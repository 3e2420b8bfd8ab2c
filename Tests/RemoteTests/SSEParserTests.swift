import XCTest

@testable import Remote

final class SSEParserTests: XCTestCase {
    private func parse(_ chunks: [String]) throws -> [SSEEvent] {
        var p = SSEParser()
        return try chunks.flatMap { try p.feed(Array($0.utf8)) }
    }

    func testDataLinesCommentsAndDone() throws {
        let events = try parse([": keep-alive\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n"])
        XCTAssertEqual(events, [SSEEvent(data: "{\"a\":1}"), SSEEvent(data: "[DONE]")])
    }

    func testMultiLineDataJoinsWithNewlineAndEventNames() throws {
        let events = try parse(["event: message\ndata: one\ndata: two\ndata:three\nid: 7\nretry: 100\n\n"])
        XCTAssertEqual(events, [SSEEvent(event: "message", data: "one\ntwo\nthree")])
    }

    func testCRLFAndLoneCRLineEnds() throws {
        XCTAssertEqual(
            try parse(["data: a\r\n\r\ndata: b\r\rdata: c\n\n"]),
            [SSEEvent(data: "a"), SSEEvent(data: "b"), SSEEvent(data: "c")])
    }

    /// Every way a stream can be cut into chunks gives the same events: inside a field
    /// name, between CR and LF, inside a multi-byte character.
    func testEventsSplitAtEveryByte() throws {
        let stream = "data: héllo 🌍\r\n\r\n: c\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\r\n\r\n"
        let bytes = Array(stream.utf8)
        let whole = try parse([stream])
        XCTAssertEqual(whole.map(\.data), ["héllo 🌍", "x\ny", "[DONE]"])
        for cut in 1..<bytes.count {
            var p = SSEParser()
            let events = try p.feed(bytes[..<cut]) + p.feed(bytes[cut...])
            XCTAssertEqual(events, whole, "cut at byte \(cut)")
        }
        // One byte at a time.
        var p = SSEParser()
        XCTAssertEqual(try bytes.flatMap { try p.feed([$0]) }, whole)
    }

    func testEventWithoutDataIsNotDispatchedAndUnfinishedEventIsDropped() throws {
        XCTAssertEqual(try parse(["event: ping\n\n", "data: half"]), [])
        XCTAssertEqual(try parse(["data\n\n"]), [SSEEvent(data: "")], "a field with no colon has an empty value")
    }

    func testOverlongLineIsAnError() {
        var p = SSEParser()
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: SSEParser.maxLineBytes + 1)
        XCTAssertThrowsError(try p.feed(big)) { XCTAssertEqual($0 as? SSEError, .lineTooLong(SSEParser.maxLineBytes)) }
    }

    func testChunkDecoderReadsChatTextUsageFinishAndServerStats() throws {
        var d = ChunkDecoder()
        var got: [StreamEvent] = []
        try d.decode(SSEEvent(data: #"{"choices":[{"delta":{"role":"assistant"},"index":0}]}"#)) { got.append($0) }
        try d.decode(
            SSEEvent(
                data: #"{"choices":[{"delta":{"content":"Hi"}}],"x_sparkchat":{"ffn_active":10,"ffn_total":40,"attended":3,"flops":1e6,"flops_dense":2e6}}"#)
        ) { got.append($0) }
        try d.decode(SSEEvent(data: #"{"choices":[{"text":" there","finish_reason":"length"}]}"#)) { got.append($0) }
        try d.decode(SSEEvent(data: #"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#)) { got.append($0) }
        try d.decode(SSEEvent(data: "[DONE]")) { got.append($0) }
        XCTAssertEqual(
            got,
            [
                .text("Hi", stats: ServerTokenStats(ffnActive: 10, ffnTotal: 40, attended: 3, flops: 1e6, flopsDense: 2e6)),
                .text(" there", stats: nil), .usage(promptTokens: 5, completionTokens: 2)
            ])
        XCTAssertEqual(d.finishReason, "length")
        XCTAssertTrue(d.sawDone)
        XCTAssertThrowsError(try d.decode(SSEEvent(data: "{not json")) { _ in }) {
            XCTAssertTrue("\($0)".contains("malformed stream event"), "\($0)")
        }
    }
}
