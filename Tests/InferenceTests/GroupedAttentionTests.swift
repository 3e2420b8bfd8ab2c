import XCTest

@testable import Inference

/// Decode attention over a long cache works in chunks of cache rows, each row read once per
/// KV head (`attendPerQueryGrouped`), instead of one job per query head. It must give the
/// per-head loop's result up to the order of one sum (the chunks' partial sums).
final class GroupedAttentionTests: XCTestCase {
    func floats(_ n: Int, _ rng: inout SplitMix64, scale: Float) -> [Float] {
        (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 * scale }
    }

    func testGroupedAttentionMatchesThePerHeadLoop() {
        // Head sizes: Gemma 3's 256 (four 64-dim slices), 16 (one slice) and 80 (not a
        // multiple of 64); groups of 2 and 8; global and sliding-window layers, the window's
        // ring wrapped (positions past window + slack); one decode token and a short chunk.
        for (hd, heads, kvHeads) in [(256, 4, 1), (16, 4, 2), (80, 8, 1)] {
            for window in [nil, 40] as [Int?] {
                for T in [1, 3] {
                    var rng = SplitMix64(seed: UInt64(hd * 100 + heads + T))
                    let start = 1800, capacity = 1900  // several chunks of 512 keys
                    let c = ModelConfig(
                        architecture: .gemma3, vocabularySize: 8, hiddenSize: 8, intermediateSize: 8, layerCount: 1,
                        headCount: heads, kvHeadCount: kvHeads, headDim: hd, contextLength: capacity,
                        layerKinds: [window == nil ? .global : .local], queryScale: 1, embeddingScale: 1)
                    let cache = KVCache(windows: [window], width: kvHeads * hd, headDim: hd, capacity: capacity)
                    // Filled in chunks no longer than the ring's slack, as the forward does.
                    var p = 0
                    while p < start + T {
                        let n = min(512, start + T - p)
                        let s = ChunkShape(c, tokens: n, start: p)
                        let k = floats(n * s.kvWidth, &rng, scale: 1.5), v = floats(n * s.kvWidth, &rng, scale: 1.5)
                        TransformerSteps.writeKV(cache, layer: 0, keys: k, values: v, s)
                        p += n
                    }
                    let s = ChunkShape(c, tokens: T, start: start)
                    let q = floats(T * s.queryWidth, &rng, scale: 0.3)
                    var outs: [[Float]] = []
                    for minimum in [Int.max, 0] {
                        var out = [Float](repeating: .nan, count: T * s.queryWidth)
                        var scores = [Float](repeating: .nan, count: T * heads * s.keys)
                        TransformerSteps.attendPerQuery(
                            queries: q, into: &out, cache, layer: 0, s, window: window, softcap: 30, scores: &scores,
                            scoresStride: s.keys, groupedMinimum: minimum)
                        outs.append(out)
                    }
                    let label = "head size \(hd), \(heads)/\(kvHeads) heads, window \(String(describing: window)), \(T) tokens"
                    XCTAssertFalse(outs[1].contains { $0.isNaN }, label)
                    let worst = zip(outs[0], outs[1]).map { abs($0 - $1) }.max()!
                    let scale = outs[0].map { abs($0) }.max()!
                    XCTAssertLessThanOrEqual(worst, 1e-5 * scale, label)
                }
            }
        }
    }
}
