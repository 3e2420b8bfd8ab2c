import Foundation
import Inference
import XCTest

@testable import ChatTUI

/// The generation thread: models load and replies stream through the queue while the
/// caller's thread stays free; Esc (stop) ends a reply after its current token.
final class GenerationWorkerTests: XCTestCase {
    func testEventQueueKeepsEveryItemFromManyThreads() {
        let q = EventQueue<Int>()
        let group = DispatchGroup()
        for t in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                for i in 0..<5000 { q.push(t * 100_000 + i) }
                group.leave()
            }
        }
        var got: [Int] = []
        while group.wait(timeout: .now() + 0.001) == .timedOut { got += q.drain() }
        got += q.drain()
        XCTAssertEqual(got.count, 20_000)
        for t in 0..<4 {  // each producer's items arrive in order
            let mine = got.filter { $0 / 100_000 == t }
            XCTAssertEqual(mine, (0..<5000).map { t * 100_000 + $0 })
        }
    }

    func collect(_ w: GenerationWorker, until done: (GenerationWorker.Event) -> Bool, timeout: TimeInterval = 60) -> [GenerationWorker.Event] {
        var out: [GenerationWorker.Event] = []
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            let batch = w.events.drain()
            out += batch
            if batch.contains(where: done) { return out }
            usleep(5_000)
        }
        XCTFail("timed out")
        return out
    }

    func testLoadGenerateAndStop() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        let w = GenerationWorker()
        defer { w.shutdown() }
        w.submit(.load(path: HeadlessCommandTests.modelPath))
        let loaded = collect(w) {
            if case .loaded = $0 { return true }; if case .loadFailed = $0 { return true }; return false
        }
        // The .format event may follow .loaded in the same batch.
        let loadEvent = loaded.last {
            if case .loaded = $0 { return true }; return false
        }
        guard case .loaded(let info, let limit, let seconds)? = loadEvent else { return XCTFail("\(loaded)") }
        if case .format(let name, let notice)? = loaded.last { XCTAssertEqual(name, "dialogue (base model)"); XCTAssertNil(notice) }
        XCTAssertGreaterThan(limit, 0)
        XCTAssertGreaterThan(seconds, 0); XCTAssertLessThan(seconds, 30)
        XCTAssertEqual(info.path, HeadlessCommandTests.modelPath)

        var p = SamplingParameters.greedy
        p.maxTokens = 5
        let request = GenerationWorker.Request(messages: [ChatMessage(role: .user, text: "Count to ten.")], parameters: p, sparsity: .off)
        w.submit(.generate(request))
        let events = collect(w) {
            if case .done = $0 { return true }; if case .failed = $0 { return true }; return false
        }
        var tokens = 0, started = false
        for e in events {
            switch e {
            case .started(let n, _, let dropped): started = true; XCTAssertGreaterThan(n, 5); XCTAssertEqual(dropped, 0)
            case .token(let t) where t.id >= 0:
                tokens += 1
                XCTAssertEqual(t.stats.ffnActive, t.stats.ffnTotal, "dense and sparsity off: every neuron active")
            case .done(let s, let used): XCTAssertEqual(s.generatedTokens, 5); XCTAssertGreaterThan(used, 5)
            case .failed(let m): XCTFail(m)
            default: break
            }
        }
        XCTAssertTrue(started)
        XCTAssertEqual(tokens, 5)

        // Stop: a long reply ends early, reported as cancelled.
        p.maxTokens = 500
        w.submit(.generate(GenerationWorker.Request(messages: [ChatMessage(role: .user, text: "Tell a long story.")], parameters: p, sparsity: .off)))
        _ = collect(w) {
            if case .token = $0 { return true }; return false
        }
        w.stop()
        let rest = collect(w) {
            if case .done = $0 { return true }; return false
        }
        guard case .done(let s, _)? = rest.last else { return XCTFail("no done") }
        XCTAssertEqual(s.stopReason, .cancelled)
        XCTAssertLessThan(s.generatedTokens, 500)
    }

    func tokens(_ events: [GenerationWorker.Event]) -> [Int] {
        events.compactMap {
            if case .token(let t) = $0, t.id >= 0 { return t.id }; return nil
        }
    }

    /// A reply with a drafter on: the same greedy tokens as plain decoding, running
    /// counts after each token that never decrease, and a summary that agrees with them.
    func testSpeculativeReplyMatchesPlainAndReportsCounts() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        let w = GenerationWorker()
        defer { w.shutdown() }
        w.submit(.load(path: HeadlessCommandTests.modelPath))
        _ = collect(w) {
            if case .loaded = $0 { return true }; if case .loadFailed = $0 { return true }; return false
        }
        var p = SamplingParameters.greedy
        p.maxTokens = 24
        let messages = [ChatMessage(role: .user, text: "List the days of the week.")]
        w.submit(.generate(.init(messages: messages, parameters: p, sparsity: .off)))
        let plain = collect(w) {
            if case .done = $0 { return true }; if case .failed = $0 { return true }; return false
        }
        XCTAssertFalse(
            plain.contains {
                if case .speculation = $0 { return true }; return false
            }, "counts only while a drafter is on")

        w.submit(.generate(.init(messages: messages, parameters: p, sparsity: .off, speculative: .slice(vocabulary: 16384, draft: 4))))
        let spec = collect(w) {
            if case .done = $0 { return true }; if case .failed = $0 { return true }; return false
        }
        XCTAssertEqual(tokens(spec), tokens(plain), "speculative decoding changed the greedy reply")
        // The reply ends by itself (the frame's stop text) or at the cap.
        let n = tokens(spec).count
        XCTAssertTrue((5...24).contains(n), "\(n) tokens")
        var last = (proposed: 0, accepted: 0, passes: 0), updates = 0
        for e in spec {
            if case .speculation(let pr, let ac, let pa) = e {
                XCTAssertGreaterThanOrEqual(pr, last.proposed); XCTAssertGreaterThanOrEqual(pa, last.passes)
                XCTAssertLessThanOrEqual(ac, pr)
                last = (pr, ac, pa); updates += 1
            }
        }
        XCTAssertEqual(updates, n, "one update per token")
        guard case .done(let s, _)? = spec.last else { return XCTFail("no done: \(spec.last.map { "\($0)" } ?? "")") }
        XCTAssertGreaterThan(s.speculativeProposed, 0)
        XCTAssertLessThan(s.targetPasses, 24, "several tokens per target pass")
        XCTAssertGreaterThanOrEqual(s.speculativeProposed, last.proposed)
        XCTAssertGreaterThanOrEqual(s.targetPasses, last.passes)
        var live = LiveStats(promptTokens: 10, contextLimit: 1000, started: Date())
        live.speculative = "slice:16384@4"
        for e in spec { if case .token(let t) = e { live.add(t) } }
        live.finish(s, contextUsed: 40)
        XCTAssertEqual(live.messageStats.speculativeAcceptance ?? -1, Double(s.speculativeAccepted) / Double(s.speculativeProposed), accuracy: 1e-12)
        XCTAssertGreaterThan(live.tokensPerTargetPass ?? 0, 1)
    }

    /// Esc while a long prompt is read stops the reply before its first token.
    func testStopWhileThePromptIsRead() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        let w = GenerationWorker()
        defer { w.shutdown() }
        w.submit(.load(path: HeadlessCommandTests.modelPath))
        _ = collect(w) {
            if case .loaded = $0 { return true }; if case .loadFailed = $0 { return true }; return false
        }
        let long = String(repeating: "The quick brown fox jumps over the lazy dog near the quiet river bank. ", count: 200)
        w.submit(.generate(.init(messages: [ChatMessage(role: .user, text: long)], parameters: .greedy, sparsity: .off)))
        let started = collect(w) {
            if case .started = $0 { return true }; return false
        }
        guard case .started(let n, _, _)? = started.last else { return XCTFail("not started") }
        XCTAssertGreaterThan(n, 2000)
        usleep(100_000)
        let t0 = Date()
        w.stop()
        let rest = collect(w) {
            if case .done = $0 { return true }; if case .failed = $0 { return true }; return false
        }
        let waited = Date().timeIntervalSince(t0)
        guard case .done(let s, _)? = rest.last else { return XCTFail("\(rest)") }
        XCTAssertEqual(s.stopReason, .cancelled)
        XCTAssertEqual(s.generatedTokens, 0)
        XCTAssertEqual(tokens(rest), [])
        XCTAssertLessThan(s.prefilledTokens, n)
        XCTAssertLessThan(waited, 2.0)
    }
}
