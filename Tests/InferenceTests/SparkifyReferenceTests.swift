import XCTest

@testable import Inference

/// The sparkified FFN (SparkifiedFFN, a SparkifyOverlay on a dense Gemma checkpoint)
/// against the PyTorch reference (scripts/spark/sparkify.py) on the tiny Gemma 3
/// checkpoint: Tests/Fixtures/sparkify/, made by scripts/fixtures/sparkify_tiny.py.
final class SparkifyReferenceTests: XCTestCase {
    struct Expected {
        let overlay: String, ids: [Int], logits: [[Float]], active: [[Int]]
        let greedyPrompt: [Int], greedy: [Int]
    }

    /// The rank-8 predictor overlay, the rank-0 one (the exact gate selects) and the rank-0
    /// exact-up one (the token's |u| weights the score; version 3).
    func expectations() throws -> [Expected] {
        try ["expected.json", "expected-gate.json", "expected-exactup.json"].map(expected)
    }

    func expected(_ file: String) throws -> Expected {
        let j = try XCTUnwrap(try Fixtures.json("sparkify/\(file)") as? [String: Any])
        return Expected(
            overlay: j["overlay"] as! String, ids: j["ids"] as! [Int],
            logits: (j["logits"] as! [[NSNumber]]).map { $0.map(\.floatValue) },
            active: j["active"] as! [[Int]], greedyPrompt: j["greedy_prompt"] as! [Int],
            greedy: j["greedy"] as! [Int])
    }

    func load(_ e: Expected) throws -> LoadedModel {
        try LoadedModel.load(path: Fixtures.url("sparkify/\(e.overlay)").path)
    }

    /// max |a − b| over the rows, divided by each expected row's range.
    func relativeError(_ got: ArraySlice<Float>, _ want: [Float]) -> Float {
        let range = (want.max() ?? 0) - (want.min() ?? 0)
        return zip(got, want).map { abs($0 - $1) / range }.max() ?? 0
    }

    /// Prefill (dense products with the mask) at every position: the same active
    /// neurons per layer as the reference, and the same logits.
    func testPrefillMatchesReference() throws {
        for e in try expectations() {
            let m = try load(e)
            XCTAssertTrue(m.info.architecture.hasSuffix("+sparkify"))
            var stats: [TokenStats] = []
            let logits = try m.model.forward(
                e.ids, state: m.model.makeState(capacity: 64), logitRows: Array(e.ids.indices),
                sparsity: .off, stats: &stats)
            let V = e.logits[0].count
            var worst: Float = 0
            for (p, row) in e.logits.enumerated() { worst = max(worst, relativeError(logits[(p * V)..<((p + 1) * V)], row)) }
            print("sparkify prefill (\(e.overlay)): max |Δlogit| / range \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4)
            XCTAssertEqual(stats.map(\.ffnActivePerLayer), e.active, "active neurons per position and layer")
            let fraction = Double(e.active.joined().reduce(0, +)) / Double(e.active.count * e.active[0].count * 96)
            XCTAssertEqual(fraction, 0.25, accuracy: 0.05, "the calibrated threshold keeps about the target fraction")
            // FLOPs are counted as the sparse path does them: fewer than dense.
            XCTAssertTrue(stats.allSatisfy { $0.flops < $0.flopsDense })
        }
    }

    /// Decode (one token at a time: predictor, gathered gate/up rows, transposed down
    /// rows, M) gives the reference's logits and active sets at every position.
    func testDecodeMatchesReference() throws {
        for e in try expectations() {
            let m = try load(e)
            let state = m.model.makeState(capacity: 64)
            let V = e.logits[0].count
            var worst: Float = 0
            for (p, id) in e.ids.enumerated() {
                var stats: [TokenStats] = []
                let logits = try m.model.forward([id], state: state, logitRows: [0], sparsity: .off, stats: &stats)
                worst = max(worst, relativeError(logits[0..<V], e.logits[p]))
                XCTAssertEqual(stats[0].ffnActivePerLayer, e.active[p], "position \(p)")
            }
            print("sparkify decode (\(e.overlay)): max |Δlogit| / range \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4)
        }
    }

    func testGreedyMatchesReference() throws {
        for e in try expectations() {
            let m = try load(e)
            let state = m.model.makeState(capacity: 64)
            var logits = try m.model.forward(
                e.greedyPrompt, state: state, logitRows: [e.greedyPrompt.count - 1],
                sparsity: .off, stats: nil)
            var out: [Int] = []
            for _ in e.greedy {
                let next = logits.indices.max { logits[$0] < logits[$1] }!
                out.append(next)
                logits = try m.model.forward([next], state: state, logitRows: [0], sparsity: .off, stats: nil)
            }
            XCTAssertEqual(out, e.greedy, e.overlay)
        }
    }

    /// Bytes a decoded token reads (bench --memory): the base's attention and head plus what
    /// the sparse FFN reads at the overlay's fraction, never more than dense, and less
    /// where gate or up rows are skipped.
    func testDecodeBytesCountWhatTheSparseFFNReads() throws {
        let dense = try LoadedModel.load(path: Fixtures.url("family/gemma3").path).model.decodeWeightBytes
        var bytes: [String: Int] = [:]
        for e in try expectations() { bytes[e.overlay] = try load(e).model.decodeWeightBytes }
        XCTAssertGreaterThan(dense, 0)
        for (name, b) in bytes { XCTAssertLessThanOrEqual(b, dense + dense / 10, name) }
        // The rank-8 predictor reads a quarter of the gate and up rows: clearly fewer bytes
        // than the exact-up overlay, which reads both whole.
        let predictor = try XCTUnwrap(bytes["tiny-gemma3.sparkify-f0.25.safetensors"])
        let exactUp = try XCTUnwrap(bytes["tiny-gemma3.sparkify-f0.25-exactup.safetensors"])
        XCTAssertLessThan(predictor, exactUp)
    }

    /// The overlay is listed by the catalog as its own model next to its base.
    func testCatalogListsOverlay() throws {
        let names = try expectations().map { String($0.overlay.dropLast(".safetensors".count)) }
        let infos = ModelCatalog.scan(directory: Fixtures.url("sparkify"))
        XCTAssertEqual(infos.map(\.name).sorted(), names.sorted())
        XCTAssertEqual(Set(infos.map(\.architecture)), ["gemma3_text+sparkify"])
    }

    // MARK: hostile overlays

    /// Writes a safetensors file: header JSON then the data, tensors given as float32.
    func writeSafetensors(_ url: URL, metadata: [String: String], tensors: [(String, [Int], [Float])]) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var data = Data()
        for (name, shape, values) in tensors {
            let begin = data.count
            values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [begin, data.count]]
        }
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json); out.append(data)
        try out.write(to: url)
    }

    func loadError(
        metadata: [String: String], tensors: [(String, [Int], [Float])] = [],
        name: String = "bad.sparkify.safetensors"
    ) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sparkify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The tiny checkpoint, linked in as the base.
        try FileManager.default.createSymbolicLink(
            at: dir.appendingPathComponent("base"),
            withDestinationURL: Fixtures.url("family/gemma3"))
        let url = dir.appendingPathComponent(name)
        try writeSafetensors(url, metadata: metadata, tensors: tensors)
        do {
            _ = try LoadedModel.load(path: url.path)
            return "loaded"
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "one-line error: \(text)")
            return text
        }
    }

    func testHostileOverlaysGiveClearErrors() throws {
        let ok = ["format": "sparkchat-sparkify", "version": "1", "base": "base", "fraction": "0.25", "rank": "8"]
        func with(_ k: String, _ v: String?) -> [String: String] { var m = ok; m[k] = v; return m }
        XCTAssertTrue(try loadError(metadata: with("format", "other")).contains("not a sparkify overlay"))
        XCTAssertTrue(try loadError(metadata: with("version", "9")).contains("version 9"))
        XCTAssertTrue(try loadError(metadata: with("base", "/etc")).contains("relative"))
        XCTAssertTrue(try loadError(metadata: with("base", "missing")).contains("is not in"))
        XCTAssertTrue(try loadError(metadata: with("fraction", "1.5")).contains("fraction"))
        XCTAssertTrue(try loadError(metadata: with("rank", "-3")).contains("rank"))
        XCTAssertTrue(try loadError(metadata: with("rank", "x")).contains("rank"))
        XCTAssertTrue(try loadError(metadata: with("rank", "4096")).contains("exceeds the hidden size"))
        XCTAssertTrue(try loadError(metadata: ok).contains("lacks tensor layers.0."))
        // A tensor of the wrong shape is named with both shapes.
        let wrong = try loadError(metadata: ok, tensors: [("layers.0.predictor_a", [96, 7], [Float](repeating: 0, count: 672))])
        XCTAssertTrue(wrong.contains("expected [96, 8]"), wrong)
        // Non-finite calibration values are refused, not propagated into logits.
        var tensors: [(String, [Int], [Float])] = []
        for li in 0..<12 {
            tensors += [
                ("layers.\(li).predictor_a", [96, 8], .init(repeating: 0, count: 768)),
                ("layers.\(li).predictor_b", [8, 48], .init(repeating: 0, count: 384)),
                ("layers.\(li).dropped_map", [48, 48], .init(repeating: 0, count: 2304)),
                ("layers.\(li).idle_activation", [96], .init(repeating: li == 3 ? .nan : 0, count: 96)),
                ("layers.\(li).up_scale", [96], .init(repeating: 1, count: 96)),
                ("layers.\(li).threshold_z", [1], [0.5])
            ]
        }
        XCTAssertTrue(try loadError(metadata: ok, tensors: tensors).contains("non-finite"))
        // A distilled down projection: only in version 2, and only of the base's shape.
        tensors = tensors.map { $0.0 == "layers.3.idle_activation" ? ($0.0, $0.1, .init(repeating: 0, count: 96)) : $0 }
        let down = ("layers.5.down", [48, 95], [Float](repeating: 0, count: 48 * 95))
        XCTAssertTrue(try loadError(metadata: ok, tensors: tensors + [down]).contains("only version 2"))
        let v2 = try loadError(metadata: with("version", "2"), tensors: tensors + [down])
        XCTAssertTrue(v2.contains("layers.5.down") && v2.contains("expected [48, 96]"), v2)
        XCTAssertEqual(try loadError(metadata: with("version", "2"), tensors: tensors), "loaded")
        // The exact-up score: named only by version 3, and only by a known name.
        var v3 = with("version", "3")
        XCTAssertEqual(try loadError(metadata: v3, tensors: tensors), "loaded")
        v3["score_weight"] = "exact-up"
        XCTAssertEqual(try loadError(metadata: v3, tensors: tensors), "loaded")
        var early = with("version", "2")
        early["score_weight"] = "exact-up"
        XCTAssertTrue(try loadError(metadata: early, tensors: tensors).contains("only version 3"))
        v3["score_weight"] = "psychic"
        XCTAssertTrue(try loadError(metadata: v3, tensors: tensors).contains("unknown score_weight psychic"))
        v3["score_weight"] = "exact-up"
        v3["dropped_map"] = "refitted"
        XCTAssertEqual(try loadError(metadata: v3, tensors: tensors), "loaded")
        v3["dropped_map"] = "guessed"
        XCTAssertTrue(try loadError(metadata: v3, tensors: tensors).contains("unknown dropped_map guessed"))
        // The dropped neurons' compensation: named only by version 4, only at rank 0 with the
        // exact-up score, and its tensors must have the rank it names.
        v3["dropped_map"] = nil
        v3["compensation_rank"] = "4"
        XCTAssertTrue(try loadError(metadata: v3, tensors: tensors).contains("only version 4"))
        var v4 = v3
        v4["version"] = "4"
        XCTAssertTrue(try loadError(metadata: v4, tensors: tensors).contains("needs rank 0"))
        v4["rank"] = "0"
        XCTAssertTrue(try loadError(metadata: v4, tensors: tensors).contains("lacks tensor layers.0.compensation_a"))
        let compensation = (0..<12).flatMap { li in
            [
                ("layers.\(li).compensation_a", [48, 4], [Float](repeating: 0, count: 192)),
                ("layers.\(li).compensation_b", [4, li == 7 ? 95 : 96], [Float](repeating: 0, count: li == 7 ? 380 : 384))
            ]
        }
        let shape = try loadError(metadata: v4, tensors: tensors + compensation)
        XCTAssertTrue(shape.contains("layers.7.compensation_b") && shape.contains("expected [4, 96]"), shape)
        v4["compensation_rank"] = "-4"
        XCTAssertTrue(try loadError(metadata: v4, tensors: tensors).contains("compensation_rank must be a positive integer"))
        v4["compensation_rank"] = "100000"
        XCTAssertTrue(try loadError(metadata: v4, tensors: tensors).contains("compensation rank 100000 exceeds"))
        // Garbage bytes are a format error, not a crash.
        let dir = FileManager.default.temporaryDirectory
        let junk = dir.appendingPathComponent("junk-\(UUID().uuidString).sparkify.safetensors")
        try Data([1, 2, 3, 4, 5]).write(to: junk)
        defer { try? FileManager.default.removeItem(at: junk) }
        XCTAssertThrowsError(try LoadedModel.load(path: junk.path))
    }
}
