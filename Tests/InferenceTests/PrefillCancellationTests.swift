import Foundation
import XCTest

@testable import Inference

/// A stop (Esc) is honoured while a long prompt is read: the Generator feeds the
/// prompt in chunks and checks the flag between them, and what it had read stays a
/// valid prefix for the next call to reuse.
final class PrefillCancellationTests: XCTestCase {
    /// Natural text of about `tokens` tokens, BOS first.
    func prompt(_ m: LoadedModel, tokens: Int) -> [Int] {
        let paragraph =
            "The river ran slowly past the old mill, where children once gathered to watch the wheel turn. "
            + "In the evenings the miller told stories of floods and droughts, of travellers and thieves. "
        var ids = [m.tokenizer.bosId]
        let piece = m.tokenizer.encode(paragraph, addBOS: false)
        while ids.count < tokens { ids += piece }
        return Array(ids.prefix(tokens))
    }

    func run(_ g: Generator, _ ids: [Int], _ p: SamplingParameters, cancel: CancellationFlag? = nil) throws -> (ids: [Int], summary: GenerationSummary) {
        var out: [Int] = []
        var summary: GenerationSummary?
        try g.generate(tokens: ids, parameters: p, cancel: cancel) { e in
            switch e {
            case .token(let t): if t.id >= 0 { out.append(t.id) }
            case .done(let s): summary = s
            }
        }
        return (out, try XCTUnwrap(summary, "no .done event"))
    }

    func testStopDuringALongPrefillReturnsPromptlyAndKeepsAReusablePrefix() throws {
        let m = try RealModel.load()
        let ids = prompt(m, tokens: 4000)
        var p = SamplingParameters.greedy
        p.maxTokens = 3
        _ = try run(Generator(model: m), Array(ids.prefix(8)), p)  // page the weights in: time a chunk, not the disk
        let g = Generator(model: m)
        let flag = CancellationFlag()
        let cancelledAt = LockedDate()
        // Stop 150 ms into reading a 4000-token prompt (seconds of work even on a fast machine).
        Thread.detachNewThread {
            usleep(150_000)
            cancelledAt.set(Date())
            flag.cancel()
        }
        let t0 = Date()
        let (out, s) = try run(g, ids, .greedy, cancel: flag)
        let returned = Date()
        let stoppedAt = try XCTUnwrap(cancelledAt.get(), "prefill ended before the stop was sent")
        let latency = returned.timeIntervalSince(stoppedAt)
        print(
            String(
                format: "prefill stop: %d of %d prompt tokens read in %.0f ms; returned %.0f ms after the stop",
                s.prefilledTokens, ids.count, 1000 * returned.timeIntervalSince(t0), 1000 * latency))
        XCTAssertEqual(s.stopReason, .cancelled)
        XCTAssertEqual(out, [], "no token after a stop during prefill")
        XCTAssertEqual(s.generatedTokens, 0)
        XCTAssertGreaterThan(s.prefilledTokens, 0)
        XCTAssertLessThan(s.prefilledTokens, ids.count, "the whole prompt was read despite the stop")
        XCTAssertEqual(s.prefilledTokens % Generator.prefillChunk, 0, "stops fall between chunks")
        XCTAssertEqual(g.contextTokens, s.prefilledTokens, "the state holds exactly what was read")
        // A chunk is sized to about 0.25 s of work (at least 64 tokens of a 270M model).
        XCTAssertLessThan(latency, 2.0, "the stop waited for more than a chunk")

        // The next turn reuses what was read and replies as a fresh generator does.
        let next = Array(ids.prefix(s.prefilledTokens + 40))
        let resumed = try run(g, next, p, cancel: CancellationFlag())
        XCTAssertEqual(resumed.summary.prefilledTokens, 40, "the read prefix was reused")
        let fresh = try run(Generator(model: m), next, p)
        XCTAssertEqual(fresh.summary.prefilledTokens, next.count)
        XCTAssertEqual(resumed.ids, fresh.ids)
        XCTAssertEqual(resumed.ids.count, 3)
    }

    /// A stop already set when generation starts reads nothing; the generator stays usable.
    func testStopBeforeTheFirstChunkReadsNothing() throws {
        let m = try RealModel.load()
        let ids = prompt(m, tokens: 300)
        let g = Generator(model: m)
        let flag = CancellationFlag()
        flag.cancel()
        let t0 = Date()
        let stopped = try run(g, ids, .greedy, cancel: flag)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 0.5)
        XCTAssertEqual(stopped.summary.stopReason, .cancelled)
        XCTAssertEqual(stopped.summary.prefilledTokens, 0)
        XCTAssertEqual(stopped.ids, [])
        XCTAssertEqual(g.contextTokens, 0)
        flag.reset()
        var p = SamplingParameters.greedy
        p.maxTokens = 2
        let again = try run(g, Array(ids.prefix(20)), p, cancel: flag)
        XCTAssertEqual(again.summary.prefilledTokens, 20)
        XCTAssertEqual(again.ids.count, 2)
    }
}

/// A date set on one thread and read on another.
private final class LockedDate: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Date?
    func set(_ d: Date) { lock.lock(); value = d; lock.unlock() }
    func get() -> Date? { lock.lock(); defer { lock.unlock() }; return value }
}
