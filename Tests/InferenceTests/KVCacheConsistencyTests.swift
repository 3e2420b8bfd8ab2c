import XCTest

@testable import Inference

/// KV-cached decode must equal a full recompute. Both runs use the same (quantized)
/// kernels so the comparison is exact; the sliding-window ring of the local layers
/// is exercised by a sequence longer than the 512-token window.
final class KVCacheConsistencyTests: XCTestCase {
    func ids(_ n: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        return [2] + (1..<n).map { _ in 300 + Int(rng.next() % 20000) }
    }

    func run(_ m: LoadedModel, prefix: Int, total: Int) throws {
        let saved = m.model.options
        m.model.options.sgemmMinimumRows = .max
        defer { m.model.options = saved }
        let seq = ids(total, seed: UInt64(total))
        let full = m.model.makeState(capacity: total)
        let lastRows = Array((prefix - 1)..<total)
        let fullLogits = try m.model.forward(seq, state: full, logitRows: lastRows, sparsity: .off, stats: nil)
        let cached = m.model.makeState(capacity: total)
        var stepLogits = try m.model.forward(Array(seq[0..<prefix]), state: cached, logitRows: [prefix - 1], sparsity: .off, stats: nil)
        for t in prefix..<total {
            stepLogits += try m.model.forward([seq[t]], state: cached, logitRows: [0], sparsity: .off, stats: nil)
        }
        XCTAssertEqual(cached.length, total)
        XCTAssertEqual(fullLogits.count, stepLogits.count)
        var maxDiff: Float = 0
        for i in fullLogits.indices { maxDiff = max(maxDiff, abs(fullLogits[i] - stepLogits[i])) }
        XCTAssertLessThanOrEqual(maxDiff, 1e-3, "cached decode differs from full recompute by \(maxDiff)")
    }

    func testShortSequence() throws { try run(try RealModel.load(), prefix: 10, total: 24) }

    func testAcrossTheSlidingWindow() throws {
        // 520 prompt tokens then 12 decoded ones: local layers (window 512) must drop
        // the oldest keys exactly as a full recompute with the window mask does.
        try run(try RealModel.load(), prefix: 520, total: 532)
    }

    func testTruncateAndRecomputeGivesSameLogits() throws {
        // Both passes in float32 (dequantized tiles + sgemm whatever their length), so
        // the only difference left is the truncated-and-refilled cache.
        let m = try RealModel.load()
        let saved = m.model.options
        m.model.options.sgemmMinimumRows = 1
        defer { m.model.options = saved }
        let seq = ids(40, seed: 5)
        let s = m.model.makeState(capacity: 64)
        _ = try m.model.forward(seq, state: s, logitRows: [], sparsity: .off, stats: nil)
        XCTAssertTrue(s.truncate(to: 30))
        let a = try m.model.forward(Array(seq[30...]), state: s, logitRows: [9], sparsity: .off, stats: nil)
        let fresh = m.model.makeState(capacity: 64)
        let b = try m.model.forward(seq, state: fresh, logitRows: [39], sparsity: .off, stats: nil)
        XCTAssertEqual(Sampler.argmax(a), Sampler.argmax(b))
        var maxDiff: Float = 0
        for i in a.indices { maxDiff = max(maxDiff, abs(a[i] - b[i])) }
        XCTAssertLessThan(maxDiff, 1e-3)
    }
}
