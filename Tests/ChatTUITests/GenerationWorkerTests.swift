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
        for t in 0..<4 {   // each producer's items arrive in order
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
        let loaded = collect(w) { if case .loaded = $0 { return true }; if case .loadFailed = $0 { return true }; return false }
        guard case .loaded(let info, let limit)? = loaded.last else { return XCTFail("\(loaded)") }
        XCTAssertGreaterThan(limit, 0)
        XCTAssertEqual(info.path, HeadlessCommandTests.modelPath)

        var p = SamplingParameters.greedy
        p.maxTokens = 5
        let request = GenerationWorker.Request(messages: [ChatMessage(role: .user, text: "Count to ten.")], parameters: p, sparsity: .off)
        w.submit(.generate(request))
        let events = collect(w) { if case .done = $0 { return true }; if case .failed = $0 { return true }; return false }
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
        _ = collect(w) { if case .token = $0 { return true }; return false }
        w.stop()
        let rest = collect(w) { if case .done = $0 { return true }; return false }
        guard case .done(let s, _)? = rest.last else { return XCTFail("no done") }
        XCTAssertEqual(s.stopReason, .cancelled)
        XCTAssertLessThan(s.generatedTokens, 500)
    }
}
