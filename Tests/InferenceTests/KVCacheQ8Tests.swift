import CKernels
import Foundation
import XCTest

@testable import Inference

/// The q8_0 KV cache: its kernels against their definition on every CPU level, attention
/// over it against float32 attention, and tiny checkpoints' logits with it against f32.
final class KVCacheQ8Tests: XCTestCase {
    func randomFloats(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 * scale }
    }

    func quantize(_ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0xAA, count: ck_kv_q8_row_bytes(Int64(x.count)))
        out.withUnsafeMutableBytes { ck_kv_q8_quantize(x, $0.baseAddress, Int64(x.count)) }
        return out
    }

    func dequantize(_ row: [UInt8], _ n: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: n)
        row.withUnsafeBytes { ck_kv_q8_dequantize($0.baseAddress, &out, Int64(n)) }
        return out
    }

    /// One value per element within half a step (amax/254) plus the fp16 rounding of
    /// the scale (2⁻¹¹ relative), as llama.cpp's q8_0.
    func testQuantizationRoundTripIsWithinHalfAStep() {
        var rng = SplitMix64(seed: 1)
        for n in [16, 32, 80, 256] {
            let x = randomFloats(n, &rng, scale: 3)
            XCTAssertEqual(ck_kv_q8_row_bytes(Int64(n)), (n + 31) / 32 * 34)
            let back = dequantize(quantize(x), n)
            for b in stride(from: 0, to: n, by: 32) {
                let block = x[b..<min(b + 32, n)]
                let amax = block.map(abs).max()!
                for i in block.indices { XCTAssertEqual(back[i], x[i], accuracy: amax / 254 + amax / 2048 + 1e-6, "n \(n) at \(i)") }
            }
        }
    }

    /// Scores and the weighted sum of values read from a ring of q8_0 rows (wrapping, with a
    /// partial last block when the head is not a multiple of 32) equal the float dot products
    /// and sums over the dequantized rows, at every CPU level this machine has.
    func testKernelsMatchDequantizedDefinitionOnEveryCPULevel() {
        let maxLevel = ck_cpu_level()
        defer { ck_set_cpu_level(maxLevel) }
        var rng = SplitMix64(seed: 2)
        for hd in [16, 32, 80, 256] {
            let kvHeads = 2, ringSize = 37, lo = 30, count = 20  // positions 30..<50: slots 30..36 then 0..12
            let headBytes = ck_kv_q8_row_bytes(Int64(hd)), stride = kvHeads * headBytes
            // The tested head is the second of each row; the first holds other numbers.
            func ring(_ bytes: inout [UInt8]) -> [[Float]] {
                (0..<ringSize).map { slot in
                    let other = quantize(randomFloats(hd, &rng, scale: 2)), row = quantize(randomFloats(hd, &rng, scale: 2))
                    bytes.replaceSubrange((slot * stride)..<(slot * stride + headBytes), with: other)
                    bytes.replaceSubrange((slot * stride + headBytes)..<((slot + 1) * stride), with: row)
                    return dequantize(row, hd)
                }
            }
            var keys = [UInt8](repeating: 0, count: ringSize * stride), values = keys
            let deqK = ring(&keys), deqV = ring(&values)
            let q = randomFloats(hd, &rng), w = randomFloats(count, &rng).map(abs)
            var wantScores = [Double](repeating: 0, count: count), wantOut = [Double](repeating: 0, count: hd)
            var magnitude: Double = 0
            for j in 0..<count {
                let slot = (lo + j) % ringSize
                for i in 0..<hd {
                    wantScores[j] += Double(q[i]) * Double(deqK[slot][i])
                    wantOut[i] += Double(w[j]) * Double(deqV[slot][i])
                    magnitude += abs(Double(q[i]) * Double(deqK[slot][i]))
                }
            }
            for level in 0...maxLevel {
                XCTAssertEqual(ck_set_cpu_level(level), level)
                var scores = [Float](repeating: .nan, count: count), out = [Float](repeating: .nan, count: hd)
                keys.withUnsafeBytes { k in
                    ck_kv_q8_scores(q, k.baseAddress! + headBytes, stride, Int64(ringSize), Int64(lo), Int64(count), Int64(hd), &scores)
                }
                values.withUnsafeBytes { v in
                    ck_kv_q8_weighted_sum(w, v.baseAddress! + headBytes, stride, Int64(ringSize), Int64(lo), Int64(count), Int64(hd), &out)
                }
                for j in 0..<count {
                    XCTAssertEqual(Double(scores[j]), wantScores[j], accuracy: 1e-5 * magnitude / Double(count) + 1e-5, "hd \(hd) level \(level) key \(j)")
                }
                for i in 0..<hd { XCTAssertEqual(Double(out[i]), wantOut[i], accuracy: 1e-4, "hd \(hd) level \(level) value \(i)") }
            }
        }
    }

    /// Attention over a q8_0 cache against the same attention over float32 keys and values:
    /// GQA, a sliding window and a soft-cap, Gemma 3's head size (256) and a short one (16).
    /// With QK-normed-like keys (≈ N(0,1)) and scaled queries the outputs stay within 2% of
    /// the values' range (measured: ~0.5%).
    func testQ8AttentionIsCloseToFloat32Attention() throws {
        for hd in [16, 256] {
            var rng = SplitMix64(seed: UInt64(hd))
            let heads = 4, kvHeads = 2, T = 3, start = 60, window = 40
            let c = ModelConfig(
                architecture: .gemma2, vocabularySize: 8, hiddenSize: 8, intermediateSize: 8, layerCount: 1,
                headCount: heads, kvHeadCount: kvHeads, headDim: hd, contextLength: 128, layerKinds: [.local],
                queryScale: 1, embeddingScale: 1)
            let f32 = KVCache(windows: [window], width: kvHeads * hd, headDim: hd, capacity: 128, type: .f32)
            let q8 = KVCache(windows: [window], width: kvHeads * hd, headDim: hd, capacity: 128, type: .q8_0)
            let s = ChunkShape(c, tokens: start + T, start: 0)
            let k = randomFloats(s.tokens * s.kvWidth, &rng, scale: 1.7), v = randomFloats(s.tokens * s.kvWidth, &rng, scale: 1.7)
            for cache in [f32, q8] { TransformerSteps.writeKV(cache, layer: 0, keys: k, values: v, s) }
            let one = ChunkShape(c, tokens: T, start: start)
            let q = randomFloats(T * one.queryWidth, &rng, scale: 1.7 / Float(hd).squareRoot() * 4)
            var outs: [[Float]] = []
            for cache in [f32, q8] {
                var out = [Float](repeating: .nan, count: T * one.queryWidth)
                var scores = [Float](repeating: 0, count: T * heads * one.keys)
                TransformerSteps.attendPerQuery(
                    queries: q, into: &out, cache, layer: 0, one, window: window, softcap: 50, scores: &scores,
                    scoresStride: one.keys)
                outs.append(out)
            }
            let range = v.max()! - v.min()!
            let worst = zip(outs[0], outs[1]).map { abs($0 - $1) }.max()!
            print("q8_0 attention, head size \(hd): worst |q8_0 - f32| = \(worst / range * 100)% of the values' range")
            XCTAssertLessThan(worst, 0.02 * range, "head size \(hd)")
            XCTAssertGreaterThan(worst, 0, "q8_0 rounding should show")
            // 34 bytes per (started) block of 32 values against 4 per value: 3.76x less at 256.
            XCTAssertEqual(q8.byteCount * hd * 4, f32.byteCount * ck_kv_q8_row_bytes(Int64(hd)))
        }
    }

    func tinyModel(_ arch: String) throws -> LoadedModel {
        let path = Fixtures.url("family/\(arch)").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("fixture \(path) missing") }
        return try LoadedModel.load(path: path)
    }

    func ids(_ m: LoadedModel, _ n: Int) -> [Int] {
        var rng = SplitMix64(seed: 9)
        return (0..<n).map { _ in 3 + Int(rng.next() % UInt64(m.config.vocabularySize - 3)) }
    }

    /// Logits of every position, decoded one token at a time (the per-query kernels) and
    /// prefilled in chunks of ≥ 32 (the batched attention, over a dequantized copy).
    func logits(_ m: LoadedModel, _ seq: [Int], chunks: [Range<Int>]) throws -> [Float] {
        let s = m.model.makeState(capacity: 64)
        var out: [Float] = []
        for r in chunks { out += try m.model.forward(Array(seq[r]), state: s, logitRows: Array(0..<r.count), sparsity: .off, stats: nil) }
        return out
    }

    /// The tiny checkpoints (random weights, heads of 16: one partial block) with a q8_0
    /// cache give logits within 5% of the logit range of the f32 cache's (measured: gemma
    /// 0.7%, gemma2 2.9%, gemma3 1.2%, recurrent_gemma 0.3%), the same greedy token at 44
    /// of 48 positions or more (measured 45 to 48), and q8_0 decode equals q8_0 prefill.
    /// (On the real model the cost is +0.3% perplexity: README, "KV cache".)
    func testTinyModelLogitsWithQ8CacheAreCloseToF32() throws {
        for arch in ["gemma", "gemma2", "gemma3", "recurrent_gemma"] {
            let m = try tinyModel(arch)
            let seq = ids(m, 48), V = m.config.vocabularySize
            let steps = (0..<48).map { $0..<($0 + 1) }
            try m.useKVCache(.f32)
            let ref = try logits(m, seq, chunks: steps)
            try m.useKVCache(.q8_0)
            defer { try? m.useKVCache(.f32) }
            XCTAssertEqual(m.model.options.kvCache, .q8_0)
            let stepped = try logits(m, seq, chunks: steps)
            let chunked = try logits(m, seq, chunks: [0..<40, 40..<48])
            let range = ref.max()! - ref.min()!
            let worst = zip(ref, stepped).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 0.05 * range, arch)
            XCTAssertGreaterThan(worst, 0, "\(arch): the cache should be q8_0")
            let prefillGap = zip(stepped, chunked).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(prefillGap, 1e-3 * range, "\(arch): q8_0 prefill vs decode")
            var same = 0
            for p in 0..<48 {
                let a = ref[(p * V)..<((p + 1) * V)], b = stepped[(p * V)..<((p + 1) * V)]
                if a.indices.max(by: { a[$0] < a[$1] }) == b.indices.max(by: { b[$0] < b[$1] }) { same += 1 }
            }
            print("\(arch): q8_0 logits within \(worst / range * 100)% of the f32 range, greedy agrees at \(same)/48")
            XCTAssertGreaterThanOrEqual(same, 44, "\(arch): greedy tokens agree at \(same)/48 positions")
            let state = m.model.makeState(capacity: 64)
            _ = try m.model.forward(Array(seq[0..<20]), state: state, logitRows: [19], sparsity: .off, stats: nil)
            if arch == "recurrent_gemma" { XCTAssertGreaterThan(state.recurrentByteCount, 0) }
            XCTAssertEqual(state.kvCacheByteCount + state.recurrentByteCount, state.byteCount)
        }
    }

    /// Continuous batching over q8_0 caches: a batched step gives each sequence what it
    /// gets alone.
    func testBatchedDecodeWithQ8Caches() throws {
        let m = try tinyModel("gemma3")
        try m.useKVCache(.q8_0)
        defer { try? m.useKVCache(.f32) }
        let batch = try XCTUnwrap(m.model as? BatchDecodingModel)
        let seq = ids(m, 30), V = m.config.vocabularySize
        let prompts = [Array(seq[0..<5]), Array(seq[5..<17]), Array(seq[17..<30])]
        func prefilled() throws -> [ModelState] {
            try prompts.map { p in
                let s = m.model.makeState(capacity: 64)
                _ = try m.model.forward(p, state: s, logitRows: [p.count - 1], sparsity: .off, stats: nil)
                return s
            }
        }
        let alone = try prefilled(), together = try prefilled()
        let next = [seq[1], seq[2], seq[3]]
        let rows = try batch.decodeBatch(next, states: together, sparsity: .off, stats: nil)
        for i in 0..<3 {
            let ref = try m.model.forward([next[i]], state: alone[i], logitRows: [0], sparsity: .off, stats: nil)
            let got = rows[(i * V)..<((i + 1) * V)]
            XCTAssertLessThan(zip(ref, got).map { abs($0 - $1) }.max()!, 1e-3, "sequence \(i)")
        }
    }

    /// A model whose attention reads only float keys refuses q8_0 in one line.
    func testSparkRefusesQ8CacheInOneLine() throws {
        let path = Fixtures.url("spark/tiny").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("fixture \(path) missing") }
        let m = try LoadedModel.load(path: path)
        XCTAssertThrowsError(try m.useKVCache(.q8_0)) { e in
            let line = "\(e)"
            XCTAssertTrue(line.contains("--kv-cache q8_0 is not supported"), line)
            XCTAssertFalse(line.contains("\n"))
        }
        XCTAssertEqual(m.model.options.kvCache, .f32)
        XCTAssertNoThrow(try m.useKVCache(.f32))
    }
}
