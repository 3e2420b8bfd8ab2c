import CKernels
import XCTest

@testable import Inference

/// The Spark model and its kernels against the PyTorch reference
/// (scripts/spark/spark_model.py) on the tiny random checkpoint in
/// Tests/Fixtures/spark/, made by scripts/fixtures/spark_tiny.py (float64 reference).
final class SparkReferenceTests: XCTestCase {
    nonisolated(unsafe) static var cached: LoadedModel?

    func expected() throws -> [String: Any] {
        try XCTUnwrap(try Fixtures.json("spark/expected.json") as? [String: Any])
    }

    func tiny() throws -> LoadedModel {
        if let m = SparkReferenceTests.cached { return m }
        let m = try LoadedModel.load(path: Fixtures.url("spark/tiny").path)
        SparkReferenceTests.cached = m
        return m
    }

    func spark(_ m: LoadedModel) throws -> SparkModel { try XCTUnwrap(m.model as? SparkModel) }

    // MARK: statistical top-k

    /// Deterministic standard normal samples (LCG + Box–Muller).
    func gaussian(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        func uniform() -> Double {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return (Double(s >> 11) + 0.5) / Double(1 << 53)
        }
        return (0..<n).map { _ in Float((-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())) }
    }

    /// On Gaussian input the kept fraction is the target within 5% of the target
    /// (n = 65536: the sampling error alone is ≤ 2.2% relative at f = 0.03).
    func testStatTopKHitsTargetFractionOnGaussianInput() {
        let n = 65_536
        for (i, f) in [0.03, 0.08, 0.25, 0.5].enumerated() {
            let x = gaussian(n, seed: UInt64(17 + i)).map { 3 * $0 - 1.5 }
            var idx = [Int32](repeating: 0, count: n), val = [Float](repeating: 0, count: n)
            let count = ck_stat_topk(x, Int64(n), StatisticalTopK.inverseNormalCDF(1 - f), nil, &idx, &val)
            let measured = Double(count) / Double(n)
            XCTAssertEqual(measured / f, 1, accuracy: 0.05, "fraction \(f): kept \(measured)")
        }
    }

    /// Equals the float64 reference on fixed vectors: the same active set, θ and values.
    func testStatTopKMatchesReferenceOnFixedVectors() throws {
        let cases = try XCTUnwrap(try expected()["stat_topk"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let x = (c["x"] as! [NSNumber]).map(\.floatValue)
            let f = (c["fraction"] as! NSNumber).doubleValue
            let y = (c["y"] as! [NSNumber]).map(\.floatValue)
            let active = (c["active"] as! [Int]).map(Int32.init)
            var idx = [Int32](repeating: 0, count: x.count), val = [Float](repeating: 0, count: x.count)
            var theta: Float = 0
            let n = Int(ck_stat_topk(x, Int64(x.count), StatisticalTopK.inverseNormalCDF(1 - f), &theta, &idx, &val))
            XCTAssertEqual(Array(idx[0..<n]), active, "fraction \(f)")
            XCTAssertEqual(Double(theta), (c["theta"] as! NSNumber).doubleValue, accuracy: 1e-6)
            for (k, i) in active.enumerated() { XCTAssertEqual(val[k], y[Int(i)], accuracy: 1e-6) }
            // Everything outside the active set is exactly zero in the reference too.
            let inactive = Set(0..<x.count).subtracting(active.map(Int.init))
            XCTAssertTrue(inactive.allSatisfy { y[$0] == 0 })
            // The Swift helper the Gemma path uses agrees with the C kernel.
            var copy = x
            let swiftCount = copy.withUnsafeMutableBufferPointer { StatisticalTopK.apply($0.baseAddress!, x.count, fraction: f) }
            XCTAssertEqual(swiftCount, n)
        }
    }

    /// Exact top-k selection equals sorting, including ties (lowest index first).
    func testTopKIndicesEqualSorting() {
        var rng = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["SPARKCHAT_TEST_SEED"] ?? "") ?? 7)  // seeded: a failure repeats
        for trial in 0..<200 {
            let n = Int.random(in: 1...300, using: &rng), k = Int.random(in: 1...40, using: &rng)
            // Few distinct values on odd trials, so ties at the k-th value are common.
            let s: [Float] = (0..<n).map { _ in trial % 2 == 0 ? Float.random(in: -5...5, using: &rng) : Float(Int.random(in: 0...6, using: &rng)) }
            var idx = [Int32](repeating: -1, count: n), tmp = [Float](repeating: 0, count: n)
            let m = Int(ck_topk_indices(s, Int64(n), Int64(k), &idx, &tmp))
            let want = (0..<n).sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }.prefix(k).sorted()
            XCTAssertEqual(m, min(n, k))
            XCTAssertEqual(idx[0..<m].map(Int.init), Array(want), "n \(n) k \(k)")
        }
    }

    // MARK: the tiny checkpoint against the reference

    func testLoadsAsSparkWithItsSettings() throws {
        let m = try tiny()
        let s = try spark(m)
        XCTAssertEqual(m.info.architecture, "spark_gemma")
        XCTAssertEqual(s.config.architecture, .spark)
        XCTAssertEqual(s.spark, SparkModel.Settings(ffnRank: 16, ffnFraction: 0.1, attnRank: 8, attnTopK: 8))
        XCTAssertEqual(s.config.layerKinds, [.local, .local, .global])
        XCTAssertEqual(s.config.slidingWindow, 12)
        let e = try expected()
        XCTAssertEqual(m.tokenizer.encode(e["text"] as! String, addBOS: false), e["text_ids"] as! [Int])
    }

    /// Logits within 1e-3 of the logit range at positions before, at and past the
    /// sliding window and the attention top-k.
    func testLogitsMatchReference() throws {
        let m = try tiny(), e = try expected()
        let ids = e["ids"] as! [Int]
        let rows = try XCTUnwrap(e["logits"] as? [String: [NSNumber]])
        let positions = rows.keys.compactMap(Int.init).sorted()
        let logits = try m.model.forward(ids, state: m.model.makeState(capacity: 64), logitRows: positions, sparsity: .off, stats: nil)
        let V = m.config.vocabularySize
        var worst: Float = 0
        for (i, p) in positions.enumerated() {
            let want = rows[String(p)]!.map(\.floatValue)
            XCTAssertEqual(want.count, V)
            let range = want.max()! - want.min()!
            for j in 0..<V {
                let d = abs(logits[i * V + j] - want[j])
                worst = max(worst, d / range)
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-3, "worst logit difference relative to range")
        print("spark tiny: worst logit diff / range = \(worst)")
    }

    /// Active neurons and attended keys per token and layer equal the reference's.
    func testStatsCountTheReferenceWork() throws {
        let m = try tiny(), e = try expected(), s = try spark(m)
        let ids = e["ids"] as! [Int]
        // Gathered as in decode, so the FLOPs counted are the sparse kernels' work.
        s.ffnPath = .gather
        defer { s.ffnPath = .auto }
        var stats: [TokenStats] = []
        _ = try m.model.forward(ids, state: m.model.makeState(capacity: 64), logitRows: [ids.count - 1], sparsity: .off, stats: &stats)
        let ffn = e["ffn_active"] as! [[Int]], att = e["attended"] as! [[Int]]
        XCTAssertEqual(stats.count, ids.count)
        var ffnDiffs = 0
        for t in 0..<ids.count {
            XCTAssertEqual(stats[t].attendedPerLayer, att[t], "position \(t)")
            // A neuron exactly at the threshold may flip between float32 and float64.
            for l in 0..<3 where stats[t].ffnActivePerLayer[l] != ffn[t][l] {
                ffnDiffs += 1
                XCTAssertLessThanOrEqual(abs(stats[t].ffnActivePerLayer[l] - ffn[t][l]), 1)
            }
            XCTAssertEqual(stats[t].ffnTotalPerLayer, [128, 128, 128])
            XCTAssertLessThan(stats[t].flops, stats[t].flopsDense)
        }
        XCTAssertLessThanOrEqual(ffnDiffs, 2)
        // Attention top-k 8 bounds the attended keys; the window (12) bounds the local layers.
        XCTAssertEqual(stats.last!.attendedPerLayer, [8, 8, 8])
        let frac = Double(stats.map(\.ffnActive).reduce(0, +)) / Double(stats.map(\.ffnTotal).reduce(0, +))
        XCTAssertEqual(frac, 0.1, accuracy: 0.04, "active FFN fraction near spark_ffn_fraction")
    }

    /// Greedy continuations with the KV cache equal the reference's (which recomputes).
    func testGreedyContinuationsMatchReference() throws {
        let m = try tiny(), e = try expected()
        let ids = e["ids"] as! [Int]
        for g in e["greedy"] as! [[String: Any]] {
            let n = g["prompt_length"] as! Int
            let want = g["tokens"] as! [Int]
            let state = m.model.makeState(capacity: 128)
            var logits = try m.model.forward(Array(ids[0..<n]), state: state, logitRows: [n - 1], sparsity: .off, stats: nil)
            var got: [Int] = []
            for _ in 0..<want.count {
                let next = logits.indices.max { logits[$0] < logits[$1] }!
                got.append(next)
                logits = try m.model.forward([next], state: state, logitRows: [0], sparsity: .off, stats: nil)
            }
            XCTAssertEqual(got, want, "prompt of \(n) tokens")
        }
    }

    /// Prefill + token-by-token decode equals one full forward at every position.
    func testCachedDecodeEqualsRecompute() throws {
        let m = try tiny(), e = try expected()
        let ids = e["ids"] as! [Int]
        let V = m.config.vocabularySize
        let full = try m.model.forward(
            ids, state: m.model.makeState(capacity: 64), logitRows: Array(0..<ids.count),
            sparsity: .off, stats: nil)
        let state = m.model.makeState(capacity: 64)
        var stepwise = try m.model.forward(Array(ids[0..<20]), state: state, logitRows: Array(0..<20), sparsity: .off, stats: nil)
        for t in 20..<ids.count {
            stepwise += try m.model.forward([ids[t]], state: state, logitRows: [0], sparsity: .off, stats: nil)
        }
        XCTAssertEqual(stepwise.count, ids.count * V)
        let worst = zip(full, stepwise).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    /// The gathered FFN (active rows of up, active columns of down) equals the dense
    /// FFN with the same stat-top-k mask, over a whole sequence.
    func testGatheredFFNEqualsDenseMaskedFFN() throws {
        let m = try tiny(), s = try spark(m), e = try expected()
        let ids = e["ids"] as! [Int]
        func run() throws -> [Float] {
            try m.model.forward(ids, state: m.model.makeState(capacity: 64), logitRows: Array(0..<ids.count), sparsity: .off, stats: nil)
        }
        defer { s.ffnPath = .auto }
        s.ffnPath = .gather
        let gathered = try run()
        s.ffnPath = .denseMasked
        let dense = try run()
        let worst = zip(gathered, dense).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    /// Bad spark_* settings are refused with a one-line error naming the key.
    func testRejectsBadSparkSettings() throws {
        let src = Fixtures.url("spark/tiny")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spark-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for f in ["model.safetensors", "tokenizer.model"] {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(f), withDestinationURL: src.appendingPathComponent(f))
        }
        let base = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: src.appendingPathComponent("config.json"))) as? [String: Any])
        for (key, value, word) in [
            ("spark_ffn_rank", 64 as Any, "spark_ffn_rank"), ("spark_ffn_fraction", 1.5 as Any, "spark_ffn_fraction"),
            ("spark_attn_rank", 7 as Any, "spark_attn_rank"), ("spark_attn_topk", 0 as Any, "spark_attn_topk")
        ] {
            var j = base
            j[key] = value
            try JSONSerialization.data(withJSONObject: j).write(to: dir.appendingPathComponent("config.json"))
            XCTAssertThrowsError(try LoadedModel.load(path: dir.path)) { err in
                XCTAssertTrue("\(err)".contains(word), "\(err)")
            }
        }
    }
}
