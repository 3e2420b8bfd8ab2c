import XCTest

@testable import Inference

/// The real model against llama.cpp on the same GGUF (docs/ARCHITECTURE.md §3): figures from
/// Tests/Fixtures/gemma3-270m/llamacpp_reference.json, made by
/// scripts/fixtures/llamacpp_reference.py (llama-perplexity and llama-simple).
final class LlamaCppComparisonTests: XCTestCase {
    func reference() throws -> [String: Any] {
        try XCTUnwrap(try Fixtures.json("gemma3-270m/llamacpp_reference.json") as? [String: Any])
    }

    /// Perplexity with decode's int8 activations (the `perplexity` command's default),
    /// as llama.cpp computes, attention included, so the figure is the same on every CPU.
    /// Measured: ctx 512 9.112 vs 9.216 (1.1%); ctx 256 11.712 vs 11.809 (0.8%). Over
    /// 768 scored tokens, int8 rounding moves these by ~1% with any change of summation
    /// order (seen at ctx 512: 9.11 to 9.24 across this session's kernel changes), and
    /// llama.cpp also rounds the KV cache, GELU and attention to fp16; so the bound is
    /// 1.5%, not a tighter 1% — a tighter one would fail on noise, not on a bug (the
    /// float32 figure, 8.955, is 2.8% off and fails it).
    func testQuantizedPerplexityMatchesLlamaCpp() throws {
        let m = try RealModel.load()
        let text = try String(contentsOf: Fixtures.url("perplexity/declaration.txt"), encoding: .utf8)
        for ref in try reference()["perplexity"] as! [[String: Any]] {
            let ctx = ref["ctx"] as! Int, expected = (ref["ppl"] as! NSNumber).doubleValue
            let r = try Perplexity.compute(model: m, text: text, ctx: ctx, arithmetic: .quantized)
            print("perplexity ctx \(ctx): ours \(r.ppl), llama.cpp \(expected)")
            XCTAssertEqual(r.ppl, expected, accuracy: 0.015 * expected, "ctx \(ctx)")
        }
    }

    /// Greedy text identical to llama-simple's until the first step where the reference's
    /// top-2 margin is under 0.5 (docs/ARCHITECTURE.md §7: there either engine may break the tie).
    func testGreedyTextFollowsLlamaCppUntilANearTie() throws {
        let m = try RealModel.load()
        let hf = try XCTUnwrap(try Fixtures.json("gemma3-270m/hf_reference.json") as? [String: Any])
        var margins: [String: [Double]] = [:]
        for c in hf["cases"] as! [[String: Any]] {
            margins[c["prompt"] as! String] = (c["margins"] as! [NSNumber]).map(\.doubleValue)
        }
        var agreed: [Int] = []
        for g in try reference()["greedy"] as! [[String: Any]] {
            let prompt = g["prompt"] as! String, theirs = g["continuation"] as! String
            var params = SamplingParameters.greedy
            params.maxTokens = g["tokens"] as! Int
            var text = "", agree = 0, diverged = false
            try Generator(model: m).generate(tokens: m.tokenizer.encode(prompt, addBOS: true), parameters: params) { e in
                guard case .token(let t) = e, !diverged else { return }
                text += t.text
                if theirs.hasPrefix(text) { agree += 1 } else { diverged = true }
            }
            let tieAt = margins[prompt]?.firstIndex { $0 < 0.5 } ?? 24
            XCTAssertGreaterThanOrEqual(agree, min(tieAt, 24), "\(prompt): ours parts from llama.cpp at token \(agree)")
            agreed.append(agree)
        }
        print("greedy tokens agreeing with llama.cpp: \(agreed)")
    }
}
