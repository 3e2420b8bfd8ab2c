import XCTest

@testable import Inference

/// Every Gemma-family architecture against Hugging Face transformers on tiny random
/// checkpoints (Tests/Fixtures/family/<arch>/, made by scripts/fixtures/family_tiny_models.py):
/// logits at several positions of a 48-token sequence (longer than every sliding window),
/// greedy continuations, cached decode against full recompute, RecurrentGemma's state;
/// from safetensors (F32, sharded F16, BF16) and from llama.cpp-converted GGUF.
final class FamilyReferenceTests: XCTestCase {
    static let archs = ["gemma", "gemma2", "gemma3", "recurrent_gemma"]

    struct Expected {
        let ids: [Int], positions: [Int], logits: [[Float]]
        let greedyPrompt: [Int], greedy: [Int]
        let raw: [String: Any]
    }

    func expected(_ arch: String) throws -> Expected {
        let j = try XCTUnwrap(try Fixtures.json("family/\(arch)/expected.json") as? [String: Any])
        return Expected(
            ids: j["ids"] as! [Int], positions: j["positions"] as! [Int],
            logits: (j["logits"] as! [[NSNumber]]).map { $0.map(\.floatValue) },
            greedyPrompt: j["greedy_prompt"] as! [Int], greedy: j["greedy"] as! [Int], raw: j)
    }

    /// The checkpoint directory, and the GGUF llama.cpp's converter made of it when present.
    func formats(_ arch: String) -> [(String, String)] {
        let dir = Fixtures.url("family/\(arch)")
        var out = [("safetensors", dir.path)]
        let gguf = dir.appendingPathComponent("model-f16.gguf").path
        if FileManager.default.fileExists(atPath: gguf) { out.append(("gguf", gguf)) }
        return out
    }

    func load(_ path: String) throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("fixture \(path) missing") }
        return try LoadedModel.load(path: path)
    }

    /// max |a − b| over the expected rows, divided by the expected logit range.
    func relativeError(_ got: [Float], _ want: [[Float]]) -> Float {
        var worst: Float = 0
        for (r, row) in want.enumerated() {
            let range = (row.max() ?? 0) - (row.min() ?? 0)
            for (i, w) in row.enumerated() { worst = max(worst, abs(got[r * row.count + i] - w) / range) }
        }
        return worst
    }

    func argmax(_ x: ArraySlice<Float>) -> Int { x.indices.max { x[$0] < x[$1] }! - x.startIndex }

    func testLogitsMatchReference() throws {
        var report: [String] = []
        for arch in Self.archs {
            let e = try expected(arch)
            for (format, path) in formats(arch) {
                // A checkpoint directory may also be named by its weights file.
                let named = format == "safetensors" && arch == "gemma" ? path + "/model.safetensors" : path
                let m = try load(named)
                XCTAssertEqual(m.info.format, format)
                let logits = try m.model.forward(
                    e.ids, state: m.model.makeState(capacity: 64), logitRows: e.positions,
                    sparsity: .off, stats: nil)
                let err = relativeError(logits, e.logits)
                report.append("\(arch)/\(format) \(String(format: "%.2e", err))")
                XCTAssertLessThanOrEqual(err, 1e-3, "\(arch) \(format)")
            }
        }
        print("family max |Δlogit| / logit range: " + report.joined(separator: ", "))
    }

    func testGreedyContinuationsMatchReference() throws {
        for arch in Self.archs {
            let e = try expected(arch)
            for (format, path) in formats(arch) {
                let m = try load(path)
                let state = m.model.makeState(capacity: 64)
                var logits = try m.model.forward(
                    e.greedyPrompt, state: state, logitRows: [e.greedyPrompt.count - 1],
                    sparsity: .off, stats: nil)
                var out: [Int] = []
                for _ in 0..<e.greedy.count {
                    let next = argmax(logits[...])
                    out.append(next)
                    logits = try m.model.forward([next], state: state, logitRows: [0], sparsity: .off, stats: nil)
                }
                XCTAssertEqual(out, e.greedy, "\(arch) \(format)")
            }
        }
    }

    /// Token-by-token (cached) decode, and a prefill split in uneven chunks, give the
    /// logits of one full pass: caches, sliding-window rings and recurrent state agree.
    func testCachedDecodeEqualsFullRecompute() throws {
        for arch in Self.archs {
            let e = try expected(arch)
            for (_, path) in formats(arch) {
                let m = try load(path)
                let V = m.config.vocabularySize
                let all = Array(0..<e.ids.count)
                let full = try m.model.forward(e.ids, state: m.model.makeState(capacity: 64), logitRows: all, sparsity: .off, stats: nil)
                let stepState = m.model.makeState(capacity: 64)
                var stepped: [Float] = []
                for t in e.ids { stepped += try m.model.forward([t], state: stepState, logitRows: [0], sparsity: .off, stats: nil) }
                let chunkState = m.model.makeState(capacity: 64)
                var chunked: [Float] = []
                for r in [0..<7, 7..<8, 8..<29, 29..<48] {
                    chunked += try m.model.forward(Array(e.ids[r]), state: chunkState, logitRows: Array(0..<r.count), sparsity: .off, stats: nil)
                }
                XCTAssertEqual(stepState.length, 48)
                let range = (full.max() ?? 0) - (full.min() ?? 0)
                var worstStep: Float = 0, worstChunk: Float = 0
                for i in 0..<(48 * V) {
                    worstStep = max(worstStep, abs(full[i] - stepped[i]))
                    worstChunk = max(worstChunk, abs(full[i] - chunked[i]))
                }
                XCTAssertLessThanOrEqual(worstStep, 1e-4 * range, path)
                XCTAssertLessThanOrEqual(worstChunk, 1e-4 * range, path)
            }
        }
    }

    /// A chat's next turn reuses the recurrent state (the new prompt extends the old
    /// sequence) and gives what a fresh state gives; a prompt that departs from it restarts.
    func testGeneratorReusesRecurrentStateAcrossTurns() throws {
        let m = try load(Fixtures.url("family/recurrent_gemma").path)
        let e = try expected("recurrent_gemma")
        var p = SamplingParameters(); p.temperature = 0; p.maxTokens = 5
        func run(_ g: Generator, _ tokens: [Int]) throws -> (ids: [Int], summary: GenerationSummary) {
            var ids: [Int] = [], summary = GenerationSummary()
            try g.generate(tokens: tokens, parameters: p) { ev in
                switch ev {
                case .token(let t): ids.append(t.id);
                case .done(let s): summary = s
                }
            }
            return (ids, summary)
        }
        let chat = Generator(model: m)
        let first = try run(chat, e.greedyPrompt)
        XCTAssertEqual(first.ids, Array(e.greedy.prefix(5)))
        let turn2 = e.greedyPrompt + first.ids + [5, 6, 7]
        let second = try run(chat, turn2)
        XCTAssertEqual(second.summary.prefilledTokens, turn2.count - (e.greedyPrompt.count + 4), "state reused")
        let fresh = try run(Generator(model: m), turn2)
        XCTAssertEqual(second.ids, fresh.ids)
        let other = try run(chat, [2, 9, 10, 11])
        XCTAssertEqual(other.summary.prefilledTokens, 4, "a different prompt restarts the recurrence")
        XCTAssertEqual(other.ids, try run(Generator(model: m), [2, 9, 10, 11]).ids)
    }

    func testRecurrentGemmaStateMatchesReference() throws {
        let e = try expected("recurrent_gemma")
        let m = try load(Fixtures.url("family/recurrent_gemma").path)
        let state = try XCTUnwrap(m.model.makeState(capacity: 64) as? GriffinState)
        _ = try m.model.forward(e.ids, state: state, logitRows: [], sparsity: .off, stats: nil)
        let want = e.raw["state"] as! [[String: Any]]
        var worst: Float = 0
        for layer in want {
            let li = layer["layer"] as! Int
            let h = (layer["h"] as! [NSNumber]).map(\.floatValue)
            let conv = (layer["conv"] as! [NSNumber]).map(\.floatValue)
            let got = try XCTUnwrap(state.recurrent(li))
            XCTAssertEqual(got.h.count, h.count)
            XCTAssertEqual(got.conv.count, conv.count)
            for (a, b) in zip(got.h, h) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
            for (a, b) in zip(got.conv, conv) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        }
        print("recurrent_gemma state max relative error: \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-4)
        // Fixed-size state: the recurrent part does not grow with the sequence.
        let before = state.recurrentByteCount
        _ = try m.model.forward([5, 6, 7], state: state, logitRows: [], sparsity: .off, stats: nil)
        XCTAssertEqual(state.recurrentByteCount, before)
        XCTAssertFalse(state.truncate(to: 10), "a recurrent state cannot rewind")
    }

    // MARK: tokenizer files

    func testTokenizerFilesGiveHuggingFaceIds() throws {
        let j = try XCTUnwrap(try Fixtures.json("family/tokenizer/expected.json") as? [String: Any])
        let dir = Fixtures.url("family/tokenizer")
        let fromModel = try SentencePieceTokenizer.fromSentencePieceModel(try Data(contentsOf: dir.appendingPathComponent("tokenizer.model")))
        let fromJSON = try SentencePieceTokenizer.fromTokenizerJSON(try Data(contentsOf: dir.appendingPathComponent("tokenizer.json")))
        XCTAssertEqual(fromModel.vocabularySize, j["vocab_size"] as? Int)
        XCTAssertEqual(fromJSON.vocabularySize, j["vocab_size"] as? Int)
        XCTAssertEqual(fromModel.bosId, 2); XCTAssertEqual(fromModel.eosId, 1)
        XCTAssertEqual(fromJSON.bosId, 2); XCTAssertEqual(fromJSON.eosId, 1)
        XCTAssertNotNil(fromModel.endOfTurnId)
        for c in j["cases"] as! [[String: Any]] {
            let text = c["text"] as! String, hf = c["hf"] as! [Int]
            XCTAssertEqual(fromJSON.encode(text, addBOS: false), hf, "tokenizer.json: \(text.debugDescription)")
            XCTAssertEqual(fromModel.encode(text, addBOS: false), hf, "tokenizer.model: \(text.debugDescription)")
            XCTAssertEqual(fromModel.decode(hf), text)
        }
    }

    // MARK: configuration

    /// A published-style Gemma 3 config (multimodal, pre-transformers-5 spelling).
    func testPublishedGemma3ConfigSpelling() throws {
        let json: [String: Any] = [
            "model_type": "gemma3",
            "text_config": [
                "model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34,
                "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208,
                "query_pre_attn_scalar": 256, "rope_theta": 1_000_000.0, "rope_local_base_freq": 10_000.0,
                "rope_scaling": ["rope_type": "linear", "factor": 8.0], "sliding_window": 1024, "sliding_window_pattern": 6
            ] as [String: Any]
        ]
        let c = try ModelConfig.fromHF(json)
        XCTAssertEqual(c.architecture, .gemma3)
        XCTAssertEqual(c.ropeBaseGlobal, 1_000_000); XCTAssertEqual(c.ropeBaseLocal, 10_000)
        XCTAssertEqual(c.ropeScalingGlobal, 8)
        XCTAssertEqual(c.slidingWindow, 1024)
        XCTAssertEqual(c.layerKinds.filter { $0 == .global }.count, 5)
        XCTAssertEqual(c.layerKinds[5], .global); XCTAssertEqual(c.layerKinds[4], .local)
        XCTAssertEqual(c.queryScale, 1 / 16)
        XCTAssertFalse(c.normWeightsIncludeOne)
        XCTAssertTrue(c.usesQKNorm)
    }

    func testTransformers5RopeParametersSpelling() throws {
        let g2: [String: Any] = [
            "model_type": "gemma2", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4,
            "num_attention_heads": 4, "head_dim": 16, "vocab_size": 100, "query_pre_attn_scalar": 64,
            "rope_parameters": ["rope_type": "default", "rope_theta": 5000.0] as [String: Any],
            "layer_types": ["full_attention", "sliding_attention", "full_attention", "sliding_attention"]
        ]
        let c = try ModelConfig.fromHF(g2)
        XCTAssertEqual(c.ropeBaseGlobal, 5000); XCTAssertEqual(c.ropeBaseLocal, 5000)
        XCTAssertEqual(c.layerKinds, [.global, .local, .global, .local])
        XCTAssertEqual(c.attentionSoftcap, 50); XCTAssertEqual(c.finalSoftcap, 30)
        XCTAssertEqual(c.queryScale, 1 / 8)
        let g3 = try ModelConfig.fromHF(try SafetensorsCheckpoint(directory: Fixtures.url("family/gemma3")).config)
        XCTAssertEqual(g3.ropeScalingGlobal, 2); XCTAssertEqual(g3.ropeBaseGlobal, 1_000_000); XCTAssertEqual(g3.ropeBaseLocal, 10_000)
        let rg = try ModelConfig.fromHF(try SafetensorsCheckpoint(directory: Fixtures.url("family/recurrent_gemma")).config)
        XCTAssertEqual(rg.layerKinds, [.recurrent, .recurrent, .local, .recurrent, .recurrent, .local])
        XCTAssertEqual(rg.ropeDim, 8); XCTAssertEqual(rg.intermediateSize, 64)
        XCTAssertEqual(rg.embeddingScale, 8)  // √64 is exact in bfloat16
        XCTAssertEqual(Float(3072).squareRoot().roundedToBFloat16(), 55.5)  // √3072 = 55.43 rounds to 55.5
    }

    // MARK: catalog

    func testCatalogListsCheckpointDirectoriesWithArchitectureAndFormat() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("family-catalog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        for arch in Self.archs {
            try FileManager.default.copyItem(at: Fixtures.url("family/\(arch)"), to: tmp.appendingPathComponent("tiny-\(arch)"))
        }
        let list = ModelCatalog.scan(directory: tmp)
        let dirs = list.filter { $0.format == "safetensors" }
        // config.json's model_type (a Gemma 3 text-only checkpoint says gemma3_text).
        XCTAssertEqual(Set(dirs.map(\.architecture)), ["gemma", "gemma2", "gemma3_text", "recurrent_gemma"])
        let g2 = try XCTUnwrap(dirs.first { $0.architecture == "gemma2" })
        XCTAssertEqual(g2.quantization, "F16")
        XCTAssertEqual(dirs.first { $0.architecture == "gemma3_text" }?.quantization, "BF16")
        XCTAssertEqual(dirs.first { $0.architecture == "gemma" }?.quantization, "F32")
        XCTAssertGreaterThan(g2.parameterCount, 100_000)
        // A converted GGUF next to them is listed as gguf with llama.cpp's architecture name.
        let gguf = Fixtures.url("family/gemma3/model-f16.gguf")
        if FileManager.default.fileExists(atPath: gguf.path) {
            try FileManager.default.copyItem(at: gguf, to: tmp.appendingPathComponent("tiny-gemma3.gguf"))
            let g = ModelCatalog.scan(directory: tmp).first { $0.format == "gguf" }
            XCTAssertEqual(g?.architecture, "gemma3")
        }
    }
}
