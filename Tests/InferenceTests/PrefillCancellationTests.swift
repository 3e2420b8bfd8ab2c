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
        // The stop waits for the chunk in flight and no more: a chunk is sized to about
        // 1 s of work and at most 512 tokens, so on this machine's measured speed it is
        // bounded by 512 tokens' time (a slow or busy CI core reads 512 tokens in > 2 s).
        let secondsPerToken = returned.timeIntervalSince(t0) / Double(s.prefilledTokens)
        let oneChunk = max(ChunkedPrefill.chunkSeconds, Double(ChunkedPrefill.maxChunk) * secondsPerToken)
        XCTAssertLessThan(latency, 1.5 * oneChunk, "the stop waited for more than a chunk")

        // The next turn reuses what was read and replies as a fresh generator does.
        let next = Array(ids.prefix(s.prefilledTokens + 40))
        let resumed = try run(g, next, p, cancel: CancellationFlag())
        XCTAssertEqual(resumed.summary.prefilledTokens, 40, "the read prefix was reused")
        let fresh = try run(Generator(model: m), next, p)
        XCTAssertEqual(fresh.summary.prefilledTokens, next.count)
        XCTAssertEqual(resumed.ids, fresh.ids)
        XCTAssertEqual(resumed.ids.count, 3)
    }

    /// Chunks aim at about a second of work, in whole 64-token units, never more than
    /// 512 tokens nor twice the chunk just measured.
    func testChunksGrowTowardASecondOfWorkAtMostDoubling() {
        XCTAssertEqual(ChunkedPrefill.nextChunkSize(after: 64, secondsPerToken: 1e-4), 128, "fast, but doubling at most")
        XCTAssertEqual(ChunkedPrefill.nextChunkSize(after: 256, secondsPerToken: 1e-4), 512)
        XCTAssertEqual(ChunkedPrefill.nextChunkSize(after: 512, secondsPerToken: 1e-5), 512, "the forward's own chunk caps it")
        XCTAssertEqual(ChunkedPrefill.nextChunkSize(after: 512, secondsPerToken: 1.0 / 200), 192, "200 tok/s: 1 s is 3 units")
        XCTAssertEqual(ChunkedPrefill.nextChunkSize(after: 128, secondsPerToken: 0.1), 64, "never below one unit")
        XCTAssertEqual(ChunkedPrefill.nextChunkSize(after: 10, secondsPerToken: 1e-4), 128, "a short last chunk still allows a unit's doubling")
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
