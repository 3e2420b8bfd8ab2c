import ArgumentParser
import Foundation
import XCTest

@testable import ChatTUI
@testable import Inference

/// CushionCache on the tiny Gemma 3 fixture: the searched prefix lowers its own objective
/// (recomputed here, against no prefix), the recorder's maxima are the true ones, the
/// static quantizer rounds and clamps, the cushion file round-trips and a hostile or
/// truncated one gives one line, an interrupted search leaves nothing, and perplexity's
/// per-tensor int8 option parses, validates and runs with and without the cushion.
final class CushionTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws { scratch = try TinyGemmaScratch.make("cushion") }

    override func tearDown() { if let s = scratch { try? FileManager.default.removeItem(at: s) } }

    var calibration: String { TinyGemmaScratch.calibration }
    var base: String { scratch.appendingPathComponent("tiny-gemma3").path }

    func segments(_ loaded: LoadedModel, tokens: Int = 96) throws -> [[Int]] {
        try CushionSearch.segments(SparkifyCalibration.readText(calibration), tokenizer: loaded.tokenizer, tokens: tokens, segmentLength: 48)
    }

    func testSearchLowersItsOwnObjective() throws {
        let loaded = try LoadedModel.load(path: base)
        let segs = try segments(loaded)
        let pool = CushionSearch.candidates(segments: segs, tokenizer: loaded.tokenizer, count: 6)
        XCTAssertEqual(pool.first, loaded.tokenizer.bosId)
        XCTAssertEqual(Set(pool).count, pool.count, "no candidate twice")
        var calls = 0
        let r = try CushionSearch.search(loaded, segments: segs, length: 3, candidates: pool, progress: { _ in calls += 1 })
        XCTAssertEqual(r.prefix.first, loaded.tokenizer.bosId)
        XCTAssertEqual(r.prefix, r.steps.map(\.token))
        XCTAssertGreaterThan(calls, pool.count, "progress reported for every candidate")
        // Recomputed from scratch: the chosen prefix's loss is what the search recorded, and
        // lower than no prefix and than BOS alone; each step lowered it.
        let none = try ActivationProbe.profile(loaded, prefix: [], segments: segs).crestLoss
        let bos = try ActivationProbe.profile(loaded, prefix: [loaded.tokenizer.bosId], segments: segs).crestLoss
        let chosen = try ActivationProbe.profile(loaded, prefix: r.prefix, segments: segs).crestLoss
        XCTAssertEqual(none, r.baselineLoss, accuracy: 1e-9)
        XCTAssertEqual(chosen, r.steps.last!.loss, accuracy: 1e-9)
        XCTAssertLessThan(chosen, none)
        XCTAssertLessThanOrEqual(chosen, bos)
        for (a, b) in zip(r.steps, r.steps.dropFirst()) { XCTAssertLessThan(b.loss, a.loss) }
        // Any single candidate after the chosen first token's predecessor is no better than the choice.
        if r.steps.count > 1 {
            for c in pool {
                let l = try ActivationProbe.profile(loaded, prefix: [r.prefix[0], c], segments: segs).crestLoss
                XCTAssertGreaterThanOrEqual(l, r.steps[1].loss - 1e-9, "candidate \(c) beats the greedy choice")
            }
        }
    }

    func testRecordedMaximaAreTheTrueOnes() throws {
        let loaded = try LoadedModel.load(path: base)
        let g = try ActivationProbe.gemma(loaded, for: "test")
        let segs = try segments(loaded)
        // The feed-forward inputs through the model's own tap, in the same float arithmetic.
        var ffnMax = [Float](repeating: 0, count: loaded.config.layerCount)
        g.ffnInputObserver = { layer, rows, n in
            for i in 0..<(n * loaded.config.hiddenSize) { ffnMax[layer] = max(ffnMax[layer], abs(rows[i])) }
        }
        defer { g.ffnInputObserver = nil }
        let p = try ActivationProbe.profile(loaded, prefix: [], segments: segs)
        XCTAssertEqual(p.maxAbs(.feedForwardInput), ffnMax)
        XCTAssertTrue(p.maxAbs.allSatisfy { $0 > 0 }, "every site was seen")
        for (m, r) in zip(p.maxAbs, p.rms) { XCTAssertGreaterThanOrEqual(m, r) }
    }

    func testStaticQuantizerRoundsToItsScaleAndClamps() {
        let scale: Float = 0.5
        let x: [Float] = [0, 0.24, 0.26, -0.74, 63.5, 63.4, 100, -1000]
        var out = [Float](repeating: .nan, count: x.count)
        x.withUnsafeBufferPointer { xp in StaticInt8Quantizer.quantize(xp.baseAddress!, x.count, scale: scale, into: &out) }
        XCTAssertEqual(out, [0, 0, 0.5, -0.5, 63.5, 63.5, 63.5, -63.5])
        StaticInt8Quantizer.quantize(x, x.count, scale: 0, into: &out)
        XCTAssertEqual(out, [Float](repeating: 0, count: x.count), "a site never seen in calibration passes zeros")
    }

    func sample() -> CushionFile {
        CushionFile(
            model: "tiny-gemma3", objective: CushionRequest.objective, prefixIds: [2, 7, 9], prefixText: "<bos>ab",
            baselineLoss: 30.5,
            steps: [.init(token: 2, text: "<bos>", loss: 20), .init(token: 7, text: "a", loss: 19), .init(token: 9, text: "b", loss: 18.25)],
            candidates: [2, 7, 9, 11], calibrationTokens: 96)
    }

    func testFileRoundTripAndHostileFiles() throws {
        let path = scratch.appendingPathComponent("c.cushion.json").path
        try sample().write(to: path)
        XCTAssertEqual(try CushionFile.read(path, vocabularySize: 100, bos: 2), sample())
        XCTAssertFalse(FileManager.default.fileExists(atPath: CushionFile.temporaryPath(for: path)))
        let good = try String(contentsOfFile: path, encoding: .utf8)

        func refuse(_ text: String, _ expected: String, vocabularySize: Int? = 100, bos: Int? = 2, line: UInt = #line) throws {
            let p = scratch.appendingPathComponent("bad.json").path
            try text.write(toFile: p, atomically: false, encoding: .utf8)
            XCTAssertThrowsError(try CushionFile.read(p, vocabularySize: vocabularySize, bos: bos), line: line) { e in
                let m = "\(e)"
                XCTAssertFalse(m.contains("\n"), "one line: \(m)", line: line)
                XCTAssertTrue(m.contains(expected), "\(m) should say \(expected)", line: line)
                XCTAssertTrue(m.contains("bad.json"), "names the file: \(m)", line: line)
            }
        }
        for cut in [1, good.count / 3, good.count - 3] { try refuse(String(good.prefix(cut)), "not a cushion file") }
        try refuse("", "not a cushion file")
        try refuse(good.replacingOccurrences(of: "sparkchat-cushion", with: "gguf"), "format")
        try refuse(good.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 9"), "version 9")
        try refuse(good.replacingOccurrences(of: "\"prefix_ids\"", with: "\"ids\""), "missing field prefix_ids")
        try refuse(good.replacingOccurrences(of: "\"baseline_loss\" : 30.5", with: "\"baseline_loss\" : \"x\""), "wrong type at baseline_loss")
        try refuse(good, "outside the vocabulary (8)", vocabularySize: 8)
        try refuse(good, "must start with BOS (3)", bos: 3)
        try refuse(good.replacingOccurrences(of: "[\n    2,\n    7,\n    9\n  ]", with: "[\n    2,\n    -7,\n    9\n  ]"), "outside the vocabulary")
        try refuse(good.replacingOccurrences(of: "\"token\" : 9", with: "\"token\" : 11"), "steps do not match")
        var long = sample()
        long.prefixIds = [Int](repeating: 2, count: 300)
        long.steps = long.prefixIds.map { .init(token: $0, text: "", loss: 1) }
        try refuse(String(data: try JSONEncoder().encode(long), encoding: .utf8)!, "300 tokens")
        try refuse(String(repeating: " ", count: CushionFile.maximumBytes + 1), "bytes (at most")
        XCTAssertThrowsError(try CushionFile.read(scratch.path)) { XCTAssertTrue("\($0)".contains("cannot read cushion file")) }
    }

    func testInterruptedSearchLeavesNothing() throws {
        var request = CushionRequest(calibration: calibration, length: 4, candidates: 8, tokens: 64)
        let out = scratch.appendingPathComponent("out").appendingPathComponent("tiny.cushion.json").path
        request.output = out
        var steps = 0
        var temporary: String?
        XCTAssertThrowsError(
            try request.run(
                load: { try LoadedModel.load(path: self.base) }, willWrite: { temporary = $0 },
                progress: { _ in steps += 1 }, isCancelled: { steps >= 5 })
        ) { XCTAssertTrue($0 is CushionSearch.Cancelled, "\($0)") }
        XCTAssertEqual(temporary, CushionFile.temporaryPath(for: out))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.appendingPathComponent("out").path), [])
        // Not interrupted: the file is there, beside nothing else, and reads back.
        let path = try request.run(load: { try LoadedModel.load(path: self.base) }, progress: { _ in }, isCancelled: { false })
        XCTAssertEqual(path, out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.appendingPathComponent("out").path), ["tiny.cushion.json"])
        let file = try CushionFile.read(path, vocabularySize: 262_144, bos: 2)
        XCTAssertEqual(file.model, "tiny-gemma3")
        XCTAssertLessThan(file.steps.last!.loss, file.baselineLoss)
        XCTAssertEqual(CushionRequest.defaultPath(modelPath: "/m/gemma-3-270m-q4_k_m.gguf"), "/m/gemma-3-270m-q4_k_m.cushion.json")
        XCTAssertEqual(CushionRequest.defaultPath(modelPath: "/m/tiny-gemma3"), "/m/tiny-gemma3.cushion.json")
    }

    func testPerplexityActivationOptionsParseAndValidate() throws {
        let a = try PerplexityCommand.parse(["--file", "t.txt", "--activations", "per-tensor-int8", "--cushion", "c.json"])
        XCTAssertEqual(a.mode, .perTensorInt8)
        XCTAssertEqual(a.cushion, "c.json")
        XCTAssertEqual(try PerplexityCommand.parse(["--file", "t.txt"]).mode, .perBlockInt8)
        XCTAssertEqual(try PerplexityCommand.parse(["--file", "t.txt", "--float32"]).mode, .float32)
        XCTAssertEqual(try PerplexityCommand.parse(["--file", "t.txt", "--activations", "float32", "--float32"]).mode, .float32)
        XCTAssertThrowsError(try PerplexityCommand.parse(["--file", "t.txt", "--activations", "int4"]))
        XCTAssertThrowsError(try PerplexityCommand.parse(["--file", "t.txt", "--activations", "per-tensor-int8", "--float32"]))
        XCTAssertThrowsError(try PerplexityCommand.parse(["--file", "t.txt", "--calibration", "k.txt"]))
        XCTAssertThrowsError(try PerplexityCommand.parse(["--file", "t.txt", "--activations", "per-tensor-int8", "--sparsity", "stat-topk:0.5"]))
        XCTAssertThrowsError(try PerplexityCommand.parse(["--file", "t.txt", "--activations", "per-tensor-int8", "--calibration-tokens", "3"]))
    }

    func testPerTensorPerplexityRunsWithAndWithoutTheCushion() throws {
        let loaded = try LoadedModel.load(path: base)
        let text = try String(contentsOfFile: calibration, encoding: .utf8)
        let segs = try segments(loaded)
        let cushion = [loaded.tokenizer.bosId, try XCTUnwrap(loaded.tokenizer.encode(".", addBOS: false).first)]
        let float = try Perplexity.compute(model: loaded, text: text, ctx: 64, maxChunks: 2, arithmetic: .float32)
        let plain = try ActivationProbe.profile(loaded, prefix: [], segments: segs)
        let int8 = try Perplexity.compute(model: loaded, text: text, ctx: 64, maxChunks: 2, arithmetic: .perTensorInt8, calibration: plain)
        let withCushion = try Perplexity.compute(
            model: loaded, text: text, ctx: 64, maxChunks: 2, arithmetic: .perTensorInt8, cushion: cushion,
            calibration: try ActivationProbe.profile(loaded, prefix: cushion, segments: segs))
        for r in [int8, withCushion] {
            XCTAssertEqual(r.scored, float.scored, "the cushion is never scored")
            XCTAssertTrue(r.ppl.isFinite && r.ppl > 1)
            XCTAssertNotEqual(r.ppl, float.ppl, "the activations were rounded")
        }
        XCTAssertThrowsError(try Perplexity.compute(model: loaded, text: text, ctx: 64, arithmetic: .perTensorInt8))
    }
}
