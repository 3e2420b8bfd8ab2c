import CKernels
import XCTest

@testable import Inference

/// The speed twins (SpeedTwin.swift): Gemma 2 2B's shapes and types, the random
/// weights' scale, and a Spark twin's statistics at the paper's limits (8% of FFN
/// neurons, at most 256 keys). Two layers instead of 26 keep the builds short.
final class SpeedTwinTests: XCTestCase {
    func testDenseTwinHasGemma2ShapesAndTypes() throws {
        let twin = try SpeedTwin.build("gemma2-2b", layers: 2)
        let m = try XCTUnwrap(twin.model as? GemmaModel)
        let c = m.config
        XCTAssertEqual(c.architecture, .gemma2)
        XCTAssertEqual(
            [c.hiddenSize, c.layerCount, c.intermediateSize, c.headCount, c.kvHeadCount, c.headDim, c.vocabularySize],
            [2304, 2, 9216, 8, 4, 256, 256_000])
        XCTAssertEqual(c.slidingWindow, 4096)
        XCTAssertEqual(c.layerKinds, [.local, .global])
        XCTAssertEqual(c.attentionSoftcap, 50)
        XCTAssertEqual(c.finalSoftcap, 30)
        let l = m.weights.layers[1]
        func shape(_ w: WeightMatrix) -> [Int] { [Int(w.type.rawValue), w.rows, w.cols] }
        let q4 = Int(GGMLType.q4_K.rawValue)
        XCTAssertEqual(shape(l.q), [q4, 2048, 2304])
        XCTAssertEqual(shape(l.k), [q4, 1024, 2304])
        XCTAssertEqual(shape(l.v), [q4, 1024, 2304])
        XCTAssertEqual(shape(l.o), [q4, 2304, 2048])
        XCTAssertEqual(shape(l.gate), [q4, 9216, 2304])
        XCTAssertEqual(shape(l.up), [q4, 9216, 2304])
        XCTAssertEqual(shape(l.down), [q4, 2304, 9216])
        XCTAssertEqual(shape(m.weights.lmHead), [Int(GGMLType.q6_K.rawValue), 256_000, 2304])
        XCTAssertEqual(twin.lmHeadBytes, 256_000 * 9 * 210)
        // 2 layers of attention (2·2048 + 2·1024)·2304 and FFN 3·2304·9216, and the embedding.
        XCTAssertEqual(twin.parameterCount, 256_000 * 2304 + 2 * (6144 * 2304 + 3 * 2304 * 9216))
    }

    func testSparkTwinStatsStayWithinEightPercentAnd256Keys() throws {
        // A small vocabulary: the head is not what this test is about.
        let twin = try SpeedTwin.build("gemma2-2b-spark", layers: 2, vocabulary: 4096)
        let m = try XCTUnwrap(twin.model as? SparkModel)
        XCTAssertEqual(m.spark, SparkModel.Settings(ffnRank: 1024, ffnFraction: 0.08, attnRank: 128, attnTopK: 256))
        XCTAssertEqual(m.config.intermediateSize, 9216)
        let l = m.layers[0]
        XCTAssertEqual([l.predictor.type, l.up.type, l.down.type, l.downByNeuron.type], [.q4_K, .q4_K, .q4_K, .q8_0])
        XCTAssertEqual([l.predictor.rows, l.predictor.cols, l.up.cols, l.downByNeuron.rows, l.downByNeuron.cols], [9216, 1024, 1280, 9216, 2304])
        // The neuron-major copy is down's columns (to Q8_0 rounding: ≤ 1/254 of a block's max).
        var col = [Float](repeating: 0, count: 2304), row = [Float](repeating: 0, count: 9216)
        l.downByNeuron.row(4321, into: &col)
        for j in [0, 777, 2303] {
            l.down.row(j, into: &row)
            XCTAssertEqual(col[j], row[4321], accuracy: 0.02 * abs(row[4321]) + 2e-4)
        }

        // 300 keys in the cache: more than 256, so the key limit binds on every layer.
        let state = m.makeState(capacity: 320)
        try SpeedTwin.fillContext(state, depth: 300)
        XCTAssertEqual(state.length, 300)
        var tok = 7
        for _ in 0..<3 {
            var stats: [TokenStats] = []
            let logits = try m.forward([tok], state: state, logitRows: [0], sparsity: .off, stats: &stats)
            XCTAssertEqual(logits.count, 4096)
            XCTAssertTrue(logits.allSatisfy(\.isFinite))
            let s = try XCTUnwrap(stats.first)
            XCTAssertEqual(s.attendedPerLayer, [256, 256], "at most 256 keys of the \(s.contextLength) visible")
            XCTAssertEqual(s.ffnTotalPerLayer, [9216, 9216])
            for a in s.ffnActivePerLayer {
                // Statistical top-k on ≈ Gaussian pre-activations: ≈ 8% (737 of 9216).
                XCTAssertGreaterThan(Double(a) / 9216, 0.05)
                XCTAssertLessThan(Double(a) / 9216, 0.11)
            }
            XCTAssertEqual(twin.gatherBytes(s), s.ffnActive * (l.up.rowBytes + l.downByNeuron.rowBytes))
            tok = Sampler.argmax(logits)
        }
        // An empty context: the first token sees only itself.
        let fresh = m.makeState(capacity: 8)
        var stats: [TokenStats] = []
        _ = try m.forward([1], state: fresh, logitRows: [0], sparsity: .off, stats: &stats)
        XCTAssertEqual(stats.first?.attendedPerLayer, [1, 1])
    }

    func testRandomRowsHaveTheAskedScaleAndDoNotDependOnTheSplit() throws {
        for type in [GGMLType.q4_K, .q6_K, .q8_0, .f32] {
            let cols = 1024, rows = 64, rb = type.rowBytes(cols)!
            var whole = [UInt8](repeating: 0, count: rows * rb), split = whole
            XCTAssertEqual(ck_fill_random_rows(Int32(type.rawValue), &whole, rb, Int64(cols), 0, Int64(rows), 9, 0.05), 0)
            split.withUnsafeMutableBytes { p in
                XCTAssertEqual(ck_fill_random_rows(Int32(type.rawValue), p.baseAddress!, rb, Int64(cols), 0, 10, 9, 0.05), 0)
                XCTAssertEqual(ck_fill_random_rows(Int32(type.rawValue), p.baseAddress! + 10 * rb, rb, Int64(cols), 10, Int64(rows - 10), 9, 0.05), 0)
            }
            XCTAssertEqual(whole, split, "\(type.name)")
            var values = [Float](repeating: 0, count: rows * cols)
            whole.withUnsafeBytes { p in
                let w = WeightMatrix(type: type, rows: rows, cols: cols, data: p.baseAddress!)
                values.withUnsafeMutableBufferPointer { v in for r in 0..<rows { w.row(r, into: v.baseAddress! + r * cols) } }
            }
            let mean = values.reduce(0, +) / Float(values.count)
            let std = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(values.count)).squareRoot()
            XCTAssertEqual(mean, 0, accuracy: 0.003, "\(type.name)")
            XCTAssertEqual(std, 0.05, accuracy: 0.003, "\(type.name)")
        }
        XCTAssertEqual(ck_fill_random_rows(Int32(GGMLType.q4_K.rawValue), nil, 0, 100, 0, 1, 1, 1), -1)
        XCTAssertThrowsError(try SpeedTwin.build("gemma2-9b"))
    }
}
