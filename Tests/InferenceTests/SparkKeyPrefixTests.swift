import CKernels
import XCTest

@testable import Inference

/// Spark attention scores keys from a contiguous copy of their first dims
/// (KVCache.keyPrefix). The copy must be the rows' own dims for every head and slot,
/// also after a windowed layer's ring wraps, so attention gives bit for bit what reading
/// the rows themselves gives.
final class SparkKeyPrefixTests: XCTestCase {
    func testPrefixCopyAttendsExactlyAsTheRowsThemselves() throws {
        let headDim = 16, kvHeads = 2, width = kvHeads * headDim, rank = 8, topK = 5, group = 2
        // Layer 0 global, layer 1 a window of 6 (ring of 6 + slack slots: it wraps below).
        let cache = KVCache(windows: [nil, 6], width: width, headDim: headDim, capacity: 1400, keyPrefixDims: rank)
        var rng = SystemRandomNumberGenerator()
        var k = [Float](repeating: 0, count: width), v = k
        let positions = 1300
        for p in 0..<positions {
            for i in 0..<width {
                k[i] = Float.random(in: -1...1, using: &rng)
                v[i] = Float.random(in: -1...1, using: &rng)
            }
            for layer in 0..<2 {
                cache.reserve(layer, upTo: p + 1)
                cache.store(layer, slot: cache.slot(layer, p), keys: k, values: v)
            }
        }
        XCTAssertLessThan(cache.layers[1].ringSize, positions, "the windowed layer's ring must wrap")
        let q = (0..<(group * headDim)).map { _ in Float.random(in: -1...1, using: &rng) }
        for layer in 0..<2 {
            let ring = cache.layers[layer].ringSize, window = layer == 1 ? 6 : nil
            for position in [0, 3, 7, 1029, 1299] {
                let lo = TransformerSteps.firstVisible(position, window: window), n = position - lo + 1
                for head in 0..<kvHeads {
                    func attend(_ prefix: UnsafePointer<Float>?) -> [Float] {
                        var scores = [Float](repeating: 0, count: group * n), weights = scores
                        var idx = [Int32](repeating: 0, count: group * n), out = [Float](repeating: 0, count: group * headDim)
                        var attended = [Int64](repeating: 0, count: group)
                        ck_spark_attend_group(
                            q, Int64(group), Int64(headDim), cache.keys(layer, slot: 0) + head * headDim,
                            cache.values(layer, slot: 0) + head * headDim, Int64(width), Int64(ring), Int64(lo), Int64(n),
                            Int64(headDim), Int64(rank), Int64(topK), &scores, &idx, &weights, &out, Int64(headDim),
                            &attended, prefix)
                        return out + scores
                    }
                    let prefix = try XCTUnwrap(cache.keyPrefix(layer, head: head))
                    XCTAssertEqual(attend(prefix), attend(nil), "layer \(layer) head \(head) position \(position)")
                }
            }
        }
        let rows = cache.layers.reduce(0) { $0 + $1.allocated }
        XCTAssertEqual(cache.byteCount, rows * (2 * width + kvHeads * rank) * 4, "the copy's bytes are counted")
    }
}
