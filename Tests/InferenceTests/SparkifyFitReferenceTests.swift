import XCTest

@testable import Inference

/// The Swift sparkify fit (SparkifyFitter, SparkifyFit, ReducedRankRegression) against
/// the PyTorch reference fit (scripts/spark/sparkify.py) on the tiny Gemma 3 checkpoint:
/// the same calibration chunks (stored in Tests/Fixtures/sparkify/expected*.json by
/// scripts/fixtures/sparkify_tiny.py) must give the reference overlay's tensors, and the
/// Swift overlay must run the reference's sparkified forward.
final class SparkifyFitReferenceTests: XCTestCase {
    struct Reference {
        let overlay: String, rank: Int, exactUp: Bool, calibration: [[Int]], ids: [Int], logits: [[Float]], active: [[Int]]
    }

    func reference(_ file: String) throws -> Reference {
        let j = try XCTUnwrap(try Fixtures.json("sparkify/\(file)") as? [String: Any])
        guard let calibration = j["calibration"] as? [[Int]] else {
            throw XCTSkip("sparkify/\(file) predates the stored calibration chunks (run scripts/fixtures/sparkify_tiny.py)")
        }
        return Reference(
            overlay: j["overlay"] as! String, rank: j["rank"] as! Int, exactUp: j["exact_up"] as? Bool ?? false,
            calibration: calibration,
            ids: j["ids"] as! [Int], logits: (j["logits"] as! [[NSNumber]]).map { $0.map(\.floatValue) },
            active: j["active"] as! [[Int]])
    }

    /// A scratch directory holding a link to the tiny checkpoint (an overlay is written beside its base).
    func scratchWithBase() throws -> (dir: URL, base: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sparkify-fit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let base = dir.appendingPathComponent("gemma3")
        try FileManager.default.createSymbolicLink(at: base, withDestinationURL: Fixtures.url("family/gemma3"))
        return (dir, base)
    }

    func floats(_ file: SafetensorsFile, _ name: String) throws -> [Float] {
        let t = try XCTUnwrap(file.tensors[name], name)
        var out = [Float](repeating: 0, count: t.elementCount)
        out.withUnsafeMutableBufferPointer {
            WeightMatrix(type: t.dtype.ggmlType!, rows: 1, cols: t.elementCount, data: file.pointer(t)).row(0, into: $0.baseAddress!)
        }
        return out
    }

    /// max |a − b| / max |b|.
    func relative(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        let scale = max(b.map(abs).max() ?? 0, 1e-30)
        return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
    }

    /// A (F × r) · B (r × d): the predictor's map, free of the factors' sign and rotation.
    func predictorMap(_ a: [Float], _ b: [Float], F: Int, r: Int, d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: F * d)
        for i in 0..<F { for k in 0..<r { let aik = a[i * r + k]; for j in 0..<d { out[i * d + j] += aik * b[k * d + j] } } }
        return out
    }

    /// Per layer, the Swift fit's tensors against the reference overlay's, both fitted on
    /// the same FFN inputs (the reference's, stored in ffn-inputs.safetensors): the fit
    /// selects at a quantile, so inputs that differ in the last float32 bit (our forward
    /// on another CPU's kernels) may move a sample across it and γ with it.
    func testFitMatchesReferenceTensors() throws {
        let inputs = try SafetensorsFile(path: Fixtures.url("sparkify/ffn-inputs.safetensors").path)
        let model = try LoadedModel.load(path: Fixtures.url("family/gemma3").path)
        let gemma = try XCTUnwrap(model.model as? GemmaModel)
        for file in ["expected.json", "expected-gate.json", "expected-exactup.json"] {
            let ref = try reference(file)
            let fits = try gemma.weights.layers.enumerated().map { li, lw in
                let x = try floats(inputs, "layers.\(li)")
                return try SparkifyFit.fitLayer(
                    x: x, samples: x.count / model.config.hiddenSize, gate: SparkifyFitter.dequantize(lw.gate),
                    up: SparkifyFitter.dequantize(lw.up), down: SparkifyFitter.dequantize(lw.down),
                    hidden: model.config.hiddenSize, width: model.config.intermediateSize, fraction: 0.25, rank: ref.rank,
                    exactUp: ref.exactUp)
            }
            let want = try SafetensorsFile(path: Fixtures.url("sparkify/\(ref.overlay)").path)
            let d = model.config.hiddenSize, F = model.config.intermediateSize, r = ref.rank
            var worst = (map: Float(0), gamma: Float(0), sigma: Float(0), z: Float(0), m: Float(0))
            for (li, fit) in fits.enumerated() {
                if r > 0 {
                    let got = predictorMap(fit.predictorA!, fit.predictorB!, F: F, r: r, d: d)
                    let exp = predictorMap(
                        try floats(want, "layers.\(li).predictor_a"), try floats(want, "layers.\(li).predictor_b"),
                        F: F, r: r, d: d)
                    worst.map = max(worst.map, relative(got, exp))
                } else {
                    XCTAssertNil(fit.predictorA)
                    XCTAssertNil(want.tensors["layers.\(li).predictor_a"])
                }
                worst.gamma = max(worst.gamma, relative(fit.idleActivation, try floats(want, "layers.\(li).idle_activation")))
                worst.sigma = max(worst.sigma, relative(fit.upScale, try floats(want, "layers.\(li).up_scale")))
                worst.z = max(worst.z, abs(fit.thresholdZ - (try floats(want, "layers.\(li).threshold_z"))[0]))
                worst.m = max(worst.m, relative(fit.droppedMap, try floats(want, "layers.\(li).dropped_map")))
            }
            print("sparkify fit vs reference (\(ref.overlay)): A·B \(worst.map), γ \(worst.gamma), σ \(worst.sigma), z \(worst.z), M \(worst.m)")
            XCTAssertLessThan(worst.map, 1e-4, "predictor map A·B, relative to its largest entry")
            XCTAssertLessThan(worst.sigma, 1e-5, "σ")
            XCTAssertLessThan(worst.gamma, 1e-4, "γ")
            XCTAssertLessThan(worst.z, 1e-4, "z")
            XCTAssertLessThan(worst.m, 1e-4, "M")
        }
    }

    /// The overlay the Swift fit writes runs the reference's sparkified forward: the same
    /// active neurons per position and layer and the same logits as the reference overlay.
    func testFittedOverlayMatchesReferenceForward() throws {
        for file in ["expected.json", "expected-gate.json", "expected-exactup.json"] {
            let ref = try reference(file)
            let (dir, base) = try scratchWithBase()
            defer { try? FileManager.default.removeItem(at: dir) }
            let model = try LoadedModel.load(path: base.path)
            let fits = try SparkifyFitter.fit(model, chunks: ref.calibration, fraction: 0.25, rank: ref.rank, exactUp: ref.exactUp)
            // The reference's original rule (σ-weighted score) is the `-typical` variant of our names.
            let path = dir.appendingPathComponent(
                SparkifyFitter.overlayName(baseFile: base.path, fraction: 0.25, rank: ref.rank, exactUp: ref.exactUp)
            ).path
            XCTAssertEqual(
                URL(fileURLWithPath: path).lastPathComponent,
                "gemma3.sparkify-f0.25\(ref.rank == 0 ? "" : "-r\(ref.rank)")\(ref.exactUp ? "" : "-typical").safetensors")
            try SparkifyFitter.write(
                fits, to: path, basePath: base.path, fraction: 0.25, rank: ref.rank,
                calibrationTokens: ref.calibration.reduce(0) { $0 + $1.count })
            let sparse = try LoadedModel.load(path: path)
            XCTAssertTrue(sparse.info.architecture.hasSuffix("+sparkify"))
            var stats: [TokenStats] = []
            let logits = try sparse.model.forward(
                ref.ids, state: sparse.model.makeState(capacity: 64),
                logitRows: Array(ref.ids.indices), sparsity: .off, stats: &stats)
            let V = ref.logits[0].count
            var worst: Float = 0
            for (p, row) in ref.logits.enumerated() {
                let range = row.max()! - row.min()!
                for (g, w) in zip(logits[(p * V)..<((p + 1) * V)], row) { worst = max(worst, abs(g - w) / range) }
            }
            let got = stats.map(\.ffnActivePerLayer)
            let pairs = zip(got.joined(), ref.active.joined())
            let differing = pairs.filter { $0 != $1 }.count, farthest = pairs.map { abs($0 - $1) }.max() ?? 0
            print("sparkify Swift-fitted overlay (\(ref.overlay)): max |Δlogit| / range \(worst), active counts differing \(differing)/\(got.joined().count)")
            // The whole pipeline: our forward captures the inputs (float32, this CPU's kernels),
            // our fit selects on them. A sample at the quantile may land on the other side
            // of it than in the reference (testFitMatchesReferenceTensors checks the fit
            // itself on identical inputs), so a few counts may differ by a neuron and the
            // logits by the effect of that; a wrong z or γ would move many counts.
            XCTAssertLessThanOrEqual(differing, got.joined().count / 50, "active neurons per position and layer:\n\(got)\n\(ref.active)")
            XCTAssertLessThanOrEqual(farthest, 2, "active neurons per position and layer")
            XCTAssertLessThanOrEqual(worst, 2e-2)
            XCTAssertEqual(
                try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(),
                ["gemma3", URL(fileURLWithPath: path).lastPathComponent].sorted(), "no temporary file left")
        }
    }

    /// Cancellation during the fit or during the write leaves neither an overlay nor a
    /// temporary file.
    func testInterruptedFitLeavesNothing() throws {
        let ref = try reference("expected.json")
        let (dir, base) = try scratchWithBase()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try LoadedModel.load(path: base.path)
        var polls = 0
        XCTAssertThrowsError(
            try SparkifyFitter.fit(
                model, chunks: ref.calibration, fraction: 0.25, rank: 8,
                isCancelled: {
                    polls += 1; return polls > 8
                })
        ) { error in
            XCTAssertTrue(error is SparkifyFitter.Cancelled, "\(error)")
        }
        XCTAssertGreaterThan(polls, 8, "the fit polls the flag between chunks and layers")
        let fits = try SparkifyFitter.fit(model, chunks: ref.calibration, fraction: 0.25, rank: 8)
        let path = dir.appendingPathComponent("gemma3.sparkify-f0.25.safetensors").path
        var writes = 0
        XCTAssertThrowsError(
            try SparkifyFitter.write(
                fits, to: path, basePath: base.path, fraction: 0.25, rank: 8,
                calibrationTokens: 1,
                isCancelled: {
                    writes += 1; return writes > 20
                }))
        XCTAssertGreaterThan(writes, 20, "cancelled in the middle of writing tensors")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["gemma3"])
        // A later write succeeds and replaces nothing but its own path.
        try SparkifyFitter.write(fits, to: path, basePath: base.path, fraction: 0.25, rank: 8, calibrationTokens: 1)
        XCTAssertNoThrow(try LoadedModel.load(path: path))
    }

    /// Bad calibration files give one-line errors.
    func testHostileCalibrationText() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sparkify-calib-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func error(_ bytes: [UInt8]?, _ name: String = "c.txt") -> String {
            let url = dir.appendingPathComponent(name)
            if let bytes { try? Data(bytes).write(to: url) }
            do { _ = try SparkifyCalibration.readText(url.path); return "read" } catch {
                let text = "\(error)"
                XCTAssertFalse(text.contains("\n"), text)
                return text
            }
        }
        XCTAssertTrue(error(nil, "missing.txt").contains("cannot read"))
        XCTAssertTrue(error([]).contains("is empty"))
        XCTAssertTrue(error([0xFF, 0xFE, 0x00, 0x81, 0xC3]).contains("not valid UTF-8"))
        XCTAssertTrue(error(Array("In the beginning é".utf8).dropLast(1)).contains("not valid UTF-8"), "truncated in a character")
        XCTAssertTrue(error([UInt8](repeating: 0, count: 100) + Array("text".utf8)).contains("does not look like text"))
        XCTAssertTrue(error(Array("In the beginning\n\tGod\u{0C}created".utf8)) == "read")
        XCTAssertTrue((try? SparkifyCalibration.readText(dir.path)) == nil, "a directory is not a text")
        // Too little text for a fit.
        let model = try LoadedModel.load(path: Fixtures.url("family/gemma3").path)
        XCTAssertThrowsError(try SparkifyCalibration.chunks("short", tokenizer: model.tokenizer, tokens: 3072)) {
            XCTAssertTrue("\($0)".contains("at least"), "\($0)")
        }
    }

    /// Form-feed sections are one chunk each (the shipped reference chunks); plain text
    /// is cut into chunks of BOS + 511 tokens spread evenly, as the reference does.
    func testCalibrationChunks() throws {
        let model = try LoadedModel.load(path: Fixtures.url("family/gemma3").path)
        let tok = model.tokenizer
        let words = (0..<3000).map { "word\($0 % 97)" }.joined(separator: " ")
        let ids = tok.encode(words, addBOS: false)
        let chunks = try SparkifyCalibration.chunks(words, tokenizer: tok, tokens: 1024)
        XCTAssertEqual(chunks.count, 2)
        let step = ids.count / 2
        XCTAssertEqual(chunks[1], [tok.bosId] + ids[step..<(step + 511)])
        let sections = try SparkifyCalibration.chunks(
            "one two three four five six seven eight nine ten eleven twelve thirteen fourteen\u{0C}" + words,
            tokenizer: tok, tokens: 3072)
        XCTAssertEqual(sections.count, 2)
        XCTAssertEqual(sections[0], [tok.bosId] + tok.encode("one two three four five six seven eight nine ten eleven twelve thirteen fourteen", addBOS: false))
        XCTAssertEqual(sections[1].count, 512)
    }
}
