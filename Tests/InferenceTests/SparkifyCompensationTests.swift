import XCTest

@testable import Inference

/// The dropped neurons' compensation (DroppedCompensation, `compensationRank`) on the tiny
/// Gemma 3 checkpoint: it must leave the selection alone, lower each layer's error, make
/// the sparse layer the dense one again at full rank (A B = W_down when r = d), and run
/// alike in prefill and decode from a version 4 overlay.
final class SparkifyCompensationTests: XCTestCase, SparkifyFixtureHelpers {
    /// Layer `li`'s relative output error ‖y − y_dense‖ / ‖y_dense‖ on the dense model's
    /// calibration inputs, computed in double from the fit's tensors as the engine's
    /// equations state it (SparkifiedFFN), with and without the fit's compensation.
    func layerErrors(_ model: LoadedModel, _ fit: SparkifyLayerFit, layer li: Int, _ chunks: [[Int]]) throws -> (plain: Double, compensated: Double) {
        let gemma = try XCTUnwrap(model.model as? GemmaModel)
        let d = gemma.config.hiddenSize, F = gemma.config.intermediateSize
        let x = try inputs(gemma, layer: li, chunks).map(Double.init), N = x.count / d
        let lw = gemma.weights.layers[li]
        let (wg, wu, wd) = [lw.gate, lw.up, lw.down].map { SparkifyFitter.dequantize($0).map(Double.init) }.splat3()
        var g = [Double](repeating: 0, count: N * F), u = g
        SparkifyFit.matmulTransposed(x, N, wg, F, d, into: &g)
        SparkifyFit.matmulTransposed(x, N, wu, F, d, into: &u)
        let kept = SparkifyFit.selection(predictedGate: g, up: u, samples: N, width: F, fit: fit)
        XCTAssertTrue(kept.contains(true) && kept.contains(false))
        let gamma = fit.idleActivation.map(Double.init)
        var dense = g, kept2 = g, dropped = g
        for k in g.indices {
            let a = SparkifyFit.gelu(g[k])
            dense[k] = a * u[k]
            kept2[k] = kept[k] ? (a - gamma[k % F]) * u[k] : 0
            dropped[k] = kept[k] ? 0 : (a - gamma[k % F]) * u[k]
        }
        var yDense = [Double](repeating: 0, count: N * d), y = yDense, mx = yDense
        SparkifyFit.matmulTransposed(dense, N, wd, d, F, into: &yDense)
        SparkifyFit.matmulTransposed(kept2, N, wd, d, F, into: &y)
        SparkifyFit.matmulTransposed(x, N, fit.droppedMap.map(Double.init), d, d, into: &mx)
        for k in y.indices { y[k] += mx[k] }
        let c = try XCTUnwrap(fit.compensation), a = c.a.map(Double.init), b = c.b.map(Double.init)
        let r = b.count / F
        var bh = [Double](repeating: 0, count: N * r), abh = y
        SparkifyFit.matmulTransposed(dropped, N, b, r, F, into: &bh)
        SparkifyFit.matmulTransposed(bh, N, a, d, r, into: &abh)
        func relative(_ v: [Double]) -> Double {
            (zip(v, yDense).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / yDense.reduce(0) { $0 + $1 * $1 }).squareRoot()
        }
        return (relative(y), relative(zip(y, abh).map { $0 + $1 }))
    }

    func testCompensationLowersLayerErrorAndIsExactAtFullRank() throws {
        let model = try LoadedModel.load(path: Fixtures.url("family/gemma3").path)
        let chunks = try calibration(), d = model.config.hiddenSize
        let plain = try SparkifyFitter.fit(model, chunks: chunks, fraction: 0.25, rank: 0, exactUp: true)
        let low = try SparkifyFitter.fit(model, chunks: chunks, fraction: 0.25, rank: 0, exactUp: true, compensationRank: 8)
        let full = try SparkifyFitter.fit(model, chunks: chunks, fraction: 0.25, rank: 0, exactUp: true, compensationRank: d)
        XCTAssertTrue(plain.allSatisfy { $0.compensation == nil && $0.compensationRank == 0 })
        for li in [0, 5, model.config.layerCount - 1] {
            // The selection and the dropped map are the plain fit's; only A and B are new.
            XCTAssertEqual(low[li].idleActivation, plain[li].idleActivation)
            XCTAssertEqual(low[li].thresholdZ, plain[li].thresholdZ)
            XCTAssertEqual(low[li].droppedMap, plain[li].droppedMap)
            XCTAssertEqual(low[li].compensation?.a.count, d * 8)
            XCTAssertEqual(low[li].compensationRank, 8)
            let e8 = try layerErrors(model, low[li], layer: li, chunks)
            let eFull = try layerErrors(model, full[li], layer: li, chunks)
            print("layer \(li): relative error \(e8.plain) without compensation, \(e8.compensated) at rank 8, \(eFull.compensated) at rank \(d)")
            XCTAssertGreaterThan(e8.plain, 0.01, "the sparse layer differs from the dense one")
            XCTAssertLessThan(e8.compensated, 0.8 * e8.plain, "layer \(li)")
            // At rank d, A B = W_down on every h: what is left is the ridge's and float's share.
            XCTAssertLessThan(eFull.compensated, 0.02 * e8.plain, "layer \(li)")
        }
        XCTAssertThrowsError(try SparkifyFitter.fit(model, chunks: chunks, fraction: 0.25, rank: 4, exactUp: true, compensationRank: 8))
        XCTAssertThrowsError(try SparkifyFitter.fit(model, chunks: chunks, fraction: 0.25, rank: 0, exactUp: false, compensationRank: 8))
    }

    /// A compensated overlay is version 4 with compensation_rank and A, B per layer; the
    /// engine runs them in prefill and in both decode paths alike (half active: whole down;
    /// a tenth: the gather), and at full rank the sparse model is the dense one again.
    func testCompensatedOverlayRoundTripsAndRestoresDenseAtFullRank() throws {
        let (dir, base) = try linkedBase("compensation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try LoadedModel.load(path: base.path)
        let chunks = try calibration(), d = model.config.hiddenSize
        let ids = Array(chunks[0].prefix(12))
        let dense = try prefillAndDecode(model, ids).prefill
        let range = dense.max()! - dense.min()!
        func deviation(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max()! / range }
        for fraction in [0.5, 0.1] {
            var logits: [Int: [Float]] = [:]
            for r in [0, 8, d] {
                let fits = try SparkifyFitter.fit(model, chunks: chunks, fraction: fraction, rank: 0, exactUp: true, compensationRank: r)
                let name = SparkifyFitter.overlayName(baseFile: base.path, fraction: fraction, rank: 0, exactUp: true, compensationRank: r)
                XCTAssertEqual(name, "gemma3.sparkify-f\(String(format: "%g", fraction))\(r > 0 ? "-c\(r)" : "").safetensors")
                let path = dir.appendingPathComponent(name).path
                try SparkifyFitter.write(fits, to: path, basePath: base.path, fraction: fraction, rank: 0, calibrationTokens: 0)
                let overlay = try SparkifyOverlay(path: path)
                XCTAssertEqual(overlay.version, r > 0 ? 4 : 3)
                XCTAssertEqual(overlay.compensationRank, r)
                XCTAssertEqual(overlay.file.tensors["layers.2.compensation_b"]?.shape, r > 0 ? [r, 96] : nil)
                let (prefill, decoded) = try prefillAndDecode(try LoadedModel.load(path: path), ids)
                XCTAssertLessThan(deviation(prefill, decoded), 1e-3, "f \(fraction) rank \(r): prefill and decode agree")
                logits[r] = prefill
            }
            let off = deviation(try XCTUnwrap(logits[0]), dense), low = deviation(try XCTUnwrap(logits[8]), dense)
            let full = deviation(try XCTUnwrap(logits[d]), dense)
            print("f \(fraction): logits' largest deviation from dense / range: \(off) plain, \(low) rank 8, \(full) rank \(d)")
            XCTAssertGreaterThan(off, 1e-3, "f \(fraction): the sparse model differs from dense")
            XCTAssertLessThan(full, 0.05 * off, "f \(fraction): at full rank the compensation restores the dense model")
        }
    }
}

extension Array {
    /// The three elements of a three-element array.
    fileprivate func splat3() -> (Element, Element, Element) { (self[0], self[1], self[2]) }
}
