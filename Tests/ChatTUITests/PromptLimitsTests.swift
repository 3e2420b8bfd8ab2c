import Foundation
import Inference
import XCTest

@testable import ChatTUI

/// Inputs too large for the screen are drawn cut in time that does not grow with the text;
/// a prompt that still does not fit after the oldest turns are left out fails the reply cleanly.
final class PromptLimitsTests: XCTestCase {
    /// The cut text is a prefix of whole characters plus a line giving the full size; a
    /// text under the limit is unchanged; cutting 10 MB costs no more than cutting 100 KB.
    func testShownTextIsCutAtACharacterAndCheap() {
        XCTAssertEqual(ShownText.cut("short", limit: 100, what: "x"), "short")
        let wide = String(repeating: "é字🙂", count: 1000)  // 2-, 3- and 4-byte characters
        for limit in [1, 2, 3, 5, 6, 9, 10, 11, 100] {
            let s = ShownText.cut(wide, limit: limit, what: "the text")
            let head = String(s[..<s.range(of: "\n… (the text is ")!.lowerBound])
            XCTAssertTrue(wide.hasPrefix(head), "limit \(limit): not a prefix of whole characters: \(head.debugDescription)")
            XCTAssertLessThanOrEqual(head.utf8.count, limit)
            XCTAssertGreaterThan(head.utf8.count, limit - 4)
        }
        let huge = String(repeating: "lorem ipsum ", count: 1_000_000)
        let small = String(repeating: "lorem ipsum ", count: 10_000)
        func time(_ s: String) -> TimeInterval {
            let t0 = Date()
            for _ in 0..<200 { _ = ShownText.cut(s, limit: 4000, what: "the system prompt") }
            return Date().timeIntervalSince(t0)
        }
        _ = time(small)
        let (tSmall, tHuge) = (time(small), time(huge))
        XCTAssertTrue(ShownText.cut(huge, limit: 4000, what: "the system prompt").hasSuffix("(the system prompt is 12 MB; the first 4 KB are shown)"))
        XCTAssertLessThan(tHuge, max(0.05, tSmall * 10), "cutting grows with the text: \(tSmall) s for 120 KB, \(tHuge) s for 12 MB")
    }

    /// A prompt longer than the context, after the oldest turns are dropped, fails the
    /// reply with the sizes; the worker then serves the next reply as usual.
    func testPromptLongerThanTheContextFailsCleanly() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        let w = GenerationWorker()
        defer { w.shutdown() }
        func collect(until done: (GenerationWorker.Event) -> Bool) -> [GenerationWorker.Event] {
            var out: [GenerationWorker.Event] = []
            let end = Date().addingTimeInterval(120)
            while Date() < end {
                let batch = w.events.drain()
                out += batch
                if batch.contains(where: done) { return out }
                usleep(5_000)
            }
            XCTFail("timed out: \(out)")
            return out
        }
        func finished(_ e: GenerationWorker.Event) -> Bool {
            if case .done = e { return true }; if case .failed = e { return true }; return false
        }
        w.submit(.load(path: HeadlessCommandTests.modelPath))
        let loaded = collect {
            if case .loaded = $0 { return true }; if case .loadFailed = $0 { return true }; return false
        }
        guard
            case .loaded(_, let limit, _)? = loaded.last(where: {
                if case .loaded = $0 { return true }; return false
            })
        else {
            return XCTFail("\(loaded)")
        }
        // Digits are one token each: under the bytes-per-token ceiling the chat refuses at, over the context.
        let digits = String(repeating: "0123456789", count: limit / 10 + 200)
        XCTAssertLessThanOrEqual(digits.utf8.count, limit * ChatApp.bytesPerTokenCeiling)
        var p = SamplingParameters.greedy
        p.maxTokens = 4
        let history = [ChatMessage(role: .user, text: "Hi"), ChatMessage(role: .model, text: "Hello."), ChatMessage(role: .user, text: digits)]
        w.submit(.generate(.init(messages: history, parameters: p, sparsity: .off)))
        let events = collect(until: finished)
        guard case .failed(let why)? = events.last else { return XCTFail("a prompt over the context did not fail: \(events.last.map { "\($0)" } ?? "")") }
        XCTAssertTrue(why.contains("context") && why.contains("\(limit)"), why)
        XCTAssertFalse(
            events.contains {
                if case .token = $0 { return true }; return false
            })
        if case .started(_, _, let dropped)? = events.first(where: {
            if case .started = $0 { return true }; return false
        }) {
            XCTAssertEqual(dropped, 2, "the oldest turns are left out first")
        }

        w.submit(.generate(.init(messages: [ChatMessage(role: .user, text: "Count to three.")], parameters: p, sparsity: .off)))
        let next = collect(until: finished)
        guard case .done(let s, _)? = next.last else { return XCTFail("the next reply failed: \(next)") }
        XCTAssertEqual(s.generatedTokens, 4)
    }
}
