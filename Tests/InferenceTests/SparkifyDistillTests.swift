import XCTest

@testable import Inference

/// The distillation stage of the sparkify fit (SparkifyDistill, SparkifyFitter's
/// `distillRidge`) on the tiny Gemma 3 checkpoint and the reference's calibration chunks:
/// it must leave the selection alone, lower each layer's output error on the inputs the
/// sparse model gives it, and round-trip through a version 2 overlay that prefill and
/// decode both run.
final class SparkifyDistillTests: XCTestCase, SparkifyFixtureHelpers {
    let fraction = 0.25, rank = 8

    func testDistillationLowersLayerErrorOnCalibration() throws {
        let model = try LoadedModel.load(path: Fixtures.url("family/gemma3").path)
        let gemma = try XCTUnwrap(model.model as? GemmaModel)
        let chunks = try calibration(), N = chunks.reduce(0) { $0 + $1.count }
        let d = gemma.config.hiddenSize, F = gemma.config.intermediateSize
        let base = try SparkifyFitter.fit(model, chunks: chunks, fraction: fraction, rank: rank)
        let distilled = try SparkifyFitter.fit(model, chunks: chunks, fraction: fraction, rank: rank, distillRidge: 0.1)
        XCTAssertTrue(base.allSatisfy { $0.down == nil })
        for li in [0, 5, gemma.config.layerCount - 1] {
            // The selection is the base fit's; only D and M change.
            XCTAssertEqual(distilled[li].idleActivation, base[li].idleActivation)
            XCTAssertEqual(distilled[li].thresholdZ, base[li].thresholdZ)
            XCTAssertEqual(distilled[li].predictorA, base[li].predictorA)
            // The inputs the distilled sparse model gives layer li (its earlier layers distilled).
            var x: [Float] = []
            try SparkifyFitter.withSparseFFN(distilled, loaded: model, gemma: gemma, rank: rank) {
                x = try inputs(gemma, layer: li, chunks)
            }
            XCTAssertEqual(x.count, N * d)
            let lw = gemma.weights.layers[li]
            let down = SparkifyFitter.dequantize(lw.down)
            let data = SparkifyDistill.layerData(
                x: x, samples: N, gate: SparkifyFitter.dequantize(lw.gate), up: SparkifyFitter.dequantize(lw.up),
                down: down, hidden: d, width: F, fit: base[li])
            let before = SparkifyDistill.relativeError(
                data, x: x, samples: N, down: down, droppedMap: base[li].droppedMap, hidden: d, width: F)
            let after = SparkifyDistill.relativeError(
                data, x: x, samples: N, down: try XCTUnwrap(distilled[li].down), droppedMap: distilled[li].droppedMap,
                hidden: d, width: F)
            print("layer \(li): relative output error \(before) without distillation, \(after) with")
            XCTAssertGreaterThan(before, 0.01, "the sparse layer differs from the dense one")
            XCTAssertLessThan(after, 0.8 * before, "layer \(li)")
        }
    }

    /// A distilled overlay is written as version 2 with each layer's down projection, and
    /// the engine runs that down in prefill and decode alike (same logits); it is not the
    /// base fit's model.
    func testDistilledOverlayRoundTrips() throws {
        let (dir, base) = try linkedBase("distill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try LoadedModel.load(path: base.path)
        let chunks = try calibration()
        var logits: [String: [Float]] = [:]
        for distill in [false, true] {
            let fits = try SparkifyFitter.fit(
                model, chunks: chunks, fraction: fraction, rank: rank, distillRidge: distill ? 0.1 : nil)
            let path = dir.appendingPathComponent("gemma3.sparkify-\(distill ? "d" : "b").safetensors").path
            try SparkifyFitter.write(fits, to: path, basePath: base.path, fraction: fraction, rank: rank, calibrationTokens: 0)
            let overlay = try SparkifyOverlay(path: path)
            XCTAssertEqual(overlay.version, distill ? 2 : 1)
            XCTAssertEqual(overlay.file.tensors["layers.3.down"]?.shape, distill ? [48, 96] : nil)
            let sparse = try LoadedModel.load(path: path)
            let (prefill, decoded) = try prefillAndDecode(sparse, Array(chunks[0].prefix(12)))
            let range = prefill.max()! - prefill.min()!
            XCTAssertLessThan(zip(prefill, decoded).map { abs($0 - $1) }.max()! / range, 1e-3, "prefill and decode agree")
            XCTAssertEqual(prefill.count, sparse.config.vocabularySize)
            logits[distill ? "d" : "b"] = prefill
        }
        let b = try XCTUnwrap(logits["b"]), dl = try XCTUnwrap(logits["d"])
        XCTAssertGreaterThan(zip(b, dl).map { abs($0 - $1) }.max()!, 1e-3, "the distilled down is what runs")
    }

    /// The refit of the dropped map (`refitPasses`) on an exact-up overlay: it selects as
    /// the engine does (the token's |u| weights the score), lowers each layer's error on
    /// the inputs it was fitted on, is marked in the overlay, and decode runs the refitted
    /// M (the whole-down shortcut, which stands γᵢuᵢ through down in for M, must not).
    func testRefittedExactUpOverlayDecodesAsPrefill() throws {
        let (dir, base) = try linkedBase("refit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try LoadedModel.load(path: base.path)
        let gemma = try XCTUnwrap(model.model as? GemmaModel)
        let chunks = try calibration(), N = chunks.reduce(0) { $0 + $1.count }
        let d = gemma.config.hiddenSize, F = gemma.config.intermediateSize
        // Half active: decode would take the whole-down path (more than a quarter active).
        let plain = try SparkifyFitter.fit(model, chunks: chunks, fraction: 0.5, rank: 0, exactUp: true)
        let refitted = try SparkifyFitter.fit(model, chunks: chunks, fraction: 0.5, rank: 0, exactUp: true, refitPasses: 1)
        XCTAssertTrue(refitted.allSatisfy { $0.droppedMapRefitted && $0.exactUp })
        XCTAssertFalse(plain.contains { $0.droppedMapRefitted })
        for li in [0, gemma.config.layerCount - 1] {
            // The refit's inputs: the calibration run through the plain sparse model.
            var x: [Float] = []
            try SparkifyFitter.withSparseFFN(plain, loaded: model, gemma: gemma, rank: 0) {
                x = try inputs(gemma, layer: li, chunks)
            }
            let lw = gemma.weights.layers[li]
            let down = SparkifyFitter.dequantize(lw.down)
            let data = SparkifyDistill.layerData(
                x: x, samples: N, gate: SparkifyFitter.dequantize(lw.gate), up: SparkifyFitter.dequantize(lw.up),
                down: down, hidden: d, width: F, fit: plain[li])
            let before = SparkifyDistill.relativeError(data, x: x, samples: N, down: down, droppedMap: plain[li].droppedMap, hidden: d, width: F)
            let after = SparkifyDistill.relativeError(data, x: x, samples: N, down: down, droppedMap: refitted[li].droppedMap, hidden: d, width: F)
            print("layer \(li): relative output error \(before) with the reference M, \(after) refitted")
            XCTAssertLessThan(after, before, "layer \(li)")
        }
        var logits: [[Float]] = []
        for (tag, fits) in [("plain", plain), ("refit", refitted)] {
            let path = dir.appendingPathComponent("gemma3.sparkify-\(tag).safetensors").path
            try SparkifyFitter.write(fits, to: path, basePath: base.path, fraction: 0.5, rank: 0, calibrationTokens: N)
            XCTAssertEqual(try SparkifyOverlay(path: path).droppedMapRefitted, tag == "refit")
            let (prefill, decoded) = try prefillAndDecode(try LoadedModel.load(path: path), Array(chunks[0].prefix(12)))
            let range = prefill.max()! - prefill.min()!
            XCTAssertLessThan(zip(prefill, decoded).map { abs($0 - $1) }.max()! / range, 1e-3, "\(tag): prefill and decode agree")
            logits.append(prefill)
        }
        XCTAssertGreaterThan(zip(logits[0], logits[1]).map { abs($0 - $1) }.max()!, 1e-3, "the refitted M is what runs")
    }
}
