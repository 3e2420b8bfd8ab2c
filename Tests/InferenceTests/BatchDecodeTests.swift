import Foundation
import XCTest

@testable import Inference

/// Continuous batching on the real model: a batched decode step gives each sequence the
/// logits it would get alone, and BatchGenerator streams each sequence as Generator does.
final class BatchDecodeTests: XCTestCase {
    let prompts = ["The capital of France is", "1, 2, 3, 4,", "Once upon a time, in a land far away, there"]

    func prefill(_ m: LoadedModel, _ ids: [[Int]]) throws -> [ModelState] {
        try ids.map { p in
            let s = m.model.makeState(capacity: 512)
            _ = try m.model.forward(p, state: s, logitRows: [p.count - 1], sparsity: .off, stats: nil)
            return s
        }
    }

    func testBatchedStepMatchesEachSequenceAlone() throws {
        let m = try RealModel.load()
        let batch = try XCTUnwrap(m.model as? BatchDecodingModel, "Gemma has a batched decode")
        let ids = prompts.map { m.tokenizer.encode($0, addBOS: true) }
        let alone = try prefill(m, ids), together = try prefill(m, ids)
        let next = [ids[0].last!, ids[1].last!, ids[2].last!]
        var stats: [TokenStats] = []
        let rows = try batch.decodeBatch(next, states: together, sparsity: .off, stats: &stats)
        let V = m.config.vocabularySize
        XCTAssertEqual(rows.count, 3 * V)
        XCTAssertEqual(stats.count, 3)
        for i in 0..<3 {
            let ref = try m.model.forward([next[i]], state: alone[i], logitRows: [0], sparsity: .off, stats: nil)
            let got = Array(rows[(i * V)..<((i + 1) * V)])
            let diff = zip(ref, got).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff, 0.02, "sequence \(i)")
            XCTAssertEqual(ref.indices.max { ref[$0] < ref[$1] }, got.indices.max { got[$0] < got[$1] }, "sequence \(i)")
            XCTAssertEqual(together[i].length, alone[i].length)
            // Each row's stats are its own: the context it attended is its own length.
            XCTAssertEqual(stats[i].contextLength, ids[i].count + 1)
        }
        XCTAssertThrowsError(try batch.decodeBatch([1, 2], states: [together[0], together[0]], sparsity: .off, stats: nil))
    }

    func testSequencesJoinAndLeaveTheBatch() throws {
        let m = try RealModel.load()
        let batch = try XCTUnwrap(BatchGenerator(model: m))
        var texts = ["", "", ""], done: [StopReason?] = [nil, nil, nil], tokens = [0, 0, 0]
        let cancel = CancellationFlag()
        func add(_ i: Int, maxTokens: Int, cancel: CancellationFlag? = nil) throws {
            var p = SamplingParameters.greedy
            p.maxTokens = maxTokens
            try batch.add(tokens: m.tokenizer.encode(prompts[i], addBOS: true), parameters: p, cancel: cancel) { e in
                switch e {
                case .token(let t): texts[i] += t.text; if t.id >= 0 { tokens[i] += 1 }
                case .done(let s): XCTAssertNil(done[i]); done[i] = s.stopReason
                }
            }
        }
        try add(1, maxTokens: 8)
        try batch.step()
        try add(0, maxTokens: 3)  // joins a running batch
        try add(2, maxTokens: 50, cancel: cancel)
        XCTAssertEqual(batch.count, 3)
        var steps = 0
        while batch.count > 0 && steps < 60 {
            if tokens[2] == 4 { cancel.cancel() }
            try batch.step(); steps += 1
        }
        XCTAssertEqual(batch.count, 0)
        XCTAssertEqual(tokens[0], 3); XCTAssertEqual(done[0], .maxTokens)
        XCTAssertEqual(tokens[1], 8); XCTAssertEqual(done[1], .maxTokens)
        XCTAssertEqual(done[2], .cancelled)
        XCTAssertLessThanOrEqual(tokens[2], 5)
        // The counting prompt continues the count, as the single-sequence generator does.
        var alone = ""
        var p = SamplingParameters.greedy
        p.maxTokens = 8
        try Generator(model: m).generate(tokens: m.tokenizer.encode(prompts[1], addBOS: true), parameters: p) { e in
            if case .token(let t) = e { alone += t.text }
        }
        XCTAssertEqual(texts[1], alone)
    }
}
