import XCTest

@testable import Inference

/// Prefill attention runs as sgemms over blocks of query tokens, each block reading only
/// the keys it can see (`attendBatched`). It must give what the per-query loop that decode
/// uses gives, up to float summation order, whatever the block size, group shape, window,
/// soft-cap and where in the cache the chunk starts.
final class BatchedAttentionTests: XCTestCase {
    func floats(_ n: Int, _ rng: inout SplitMix64, scale: Float) -> [Float] {
        (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 * scale }
    }

    func testBlockedSgemmAttentionMatchesThePerQueryLoop() {
        // (head size, query heads, KV heads): one KV head (the group's heads merged into one
        // matrix), two KV heads (one sgemm per query head), and multi-head attention.
        for (hd, heads, kvHeads) in [(32, 4, 1), (16, 4, 2), (8, 3, 3)] {
            for window in [nil, 7, 70] as [Int?] {
                for softcap in [nil, 5] as [Float?] {
                    // A chunk from position 0, and one after 50 cached positions; block sizes
                    // smaller than, dividing, not dividing and larger than the chunk.
                    for (start, T) in [(0, 96), (50, 37)] {
                        for block in [1, 16, 40, 64, 512] {
                            check(hd: hd, heads: heads, kvHeads: kvHeads, window: window, softcap: softcap, start: start, T: T, block: block)
                        }
                    }
                }
            }
        }
    }

    func check(hd: Int, heads: Int, kvHeads: Int, window: Int?, softcap: Float?, start: Int, T: Int, block: Int) {
        let label =
            "hd \(hd), \(heads)/\(kvHeads) heads, window \(String(describing: window)), "
            + "cap \(String(describing: softcap)), start \(start), \(T) tokens, block \(block)"
        var rng = SplitMix64(seed: UInt64(hd * 1000 + heads * 100 + kvHeads * 10 + start + T + block))
        let capacity = 200
        let c = ModelConfig(
            architecture: .gemma3, vocabularySize: 8, hiddenSize: 8, intermediateSize: 8, layerCount: 1,
            headCount: heads, kvHeadCount: kvHeads, headDim: hd, contextLength: capacity,
            layerKinds: [window == nil ? .global : .local], queryScale: 1, embeddingScale: 1)
        // Windows here are far below the capacity, so the cache must stay contiguous for the
        // batched path: a global-kind cache (no ring) holds every position.
        let cache = KVCache(windows: [nil], width: kvHeads * hd, headDim: hd, capacity: capacity)
        for (p, n) in [(0, start), (start, T)] where n > 0 {
            let s = ChunkShape(c, tokens: n, start: p)
            let k = floats(n * s.kvWidth, &rng, scale: 1.5), v = floats(n * s.kvWidth, &rng, scale: 1.5)
            TransformerSteps.writeKV(cache, layer: 0, keys: k, values: v, s)
        }
        let s = ChunkShape(c, tokens: T, start: start)
        XCTAssertTrue(cache.isContiguous(0, upTo: s.keys), label)
        let q = floats(T * s.queryWidth, &rng, scale: 0.5)
        var loop = [Float](repeating: .nan, count: T * s.queryWidth)
        var batched = [Float](repeating: .nan, count: T * s.queryWidth)
        var scores = [Float](repeating: .nan, count: T * heads * s.keys)
        TransformerSteps.attendPerQuery(
            queries: q, into: &loop, cache, layer: 0, s, window: window, softcap: softcap, scores: &scores, scoresStride: s.keys)
        scores = [Float](repeating: .nan, count: T * heads * s.keys)
        TransformerSteps.attendBatched(
            queries: q, into: &batched, cache, layer: 0, s, window: window, softcap: softcap, scores: &scores, queryBlock: block)
        XCTAssertFalse(batched.contains { $0.isNaN }, label)
        let worst = zip(loop, batched).map { abs($0 - $1) }.max()!
        let scale = loop.map { abs($0) }.max()!
        XCTAssertLessThanOrEqual(worst, 2e-6 * scale, label)
    }
}
