import XCTest

@testable import Inference

/// Speculative decoding is lossless: greedy output identical to plain decoding, and
/// sampled output distributed exactly as the target model's.
final class SpeculativeDecodingTests: XCTestCase {
    func generate(_ g: Generator, _ prompt: [Int], _ p: SamplingParameters) throws -> (ids: [Int], summary: GenerationSummary) {
        var ids: [Int] = []
        var summary = GenerationSummary()
        try g.generate(tokens: prompt, parameters: p) { e in
            switch e {
            case .token(let t): if t.id >= 0 { ids.append(t.id) }
            case .done(let s): summary = s
            }
        }
        return (ids, summary)
    }

    func testGreedyOutputIdenticalForEveryDrafterOnTheRealModel() throws {
        let m = try RealModel.load()
        var p = SamplingParameters.greedy
        p.maxTokens = 40
        // "The capital of France is" and a code-like prompt, as token ids.
        for prompt in [[2, 818, 5279, 529, 7001, 563], [2, 2063, 35837, 236769, 236749, 1473]] {
            let plain = try generate(Generator(model: m), prompt, p).ids
            XCTAssertEqual(plain.count, 40)
            for mode in ["slice:4096@4", "slice@6", "lookup:3@4", "sparse:0.5@3"] {
                let g = Generator(model: m)
                g.speculative = SpeculativeMode(argument: mode)!
                let (spec, s) = try generate(g, prompt, p)
                XCTAssertEqual(spec, plain, "speculative \(mode) changed the greedy output")
                if mode.hasPrefix("slice") || mode.hasPrefix("sparse") {
                    XCTAssertGreaterThan(s.speculativeProposed, 0, mode)
                    XCTAssertLessThan(s.targetPasses, 40, "\(mode) should verify several tokens per pass")
                }
            }
        }
    }

    /// Repetition control on (DRY from the prompt and the reply, presence, frequency and
    /// the multiplicative penalty): drafting, verification and plain decoding must see the
    /// same history, so every drafter still reproduces plain greedy decoding.
    func testGreedyOutputIdenticalWithPenaltiesOnTheRealModel() throws {
        let m = try RealModel.load()
        var p = SamplingParameters.greedy
        p.maxTokens = 40
        let unpenalized = p
        p.dryMultiplier = 0.8; p.presencePenalty = 0.4; p.frequencyPenalty = 0.1; p.repetitionPenalty = 1.1
        // "The capital of France is", and a prompt that repeats a phrase so DRY acts from the prompt on.
        let repeated = m.tokenizer.encode("You are here! You are here! You are here! You are", addBOS: true)
        for prompt in [[2, 818, 5279, 529, 7001, 563], repeated] {
            let plain = try generate(Generator(model: m), prompt, p).ids
            XCTAssertEqual(plain.count, 40)
            XCTAssertNotEqual(plain, try generate(Generator(model: m), prompt, unpenalized).ids, "the penalties changed nothing")
            for mode in ["slice:4096@4", "lookup:3@4", "sparse:0.5@3"] {
                let g = Generator(model: m)
                g.speculative = SpeculativeMode(argument: mode)!
                let (spec, s) = try generate(g, prompt, p)
                XCTAssertEqual(spec, plain, "speculative \(mode) changed the penalized greedy output")
                if mode.hasPrefix("slice") { XCTAssertLessThan(s.targetPasses, 40, "\(mode) should verify several tokens per pass") }
            }
        }
    }

    /// DRY reads `dryWindow` tokens even when the other penalties read fewer: the
    /// generator must keep that much history in plain and speculative decoding alike.
    /// The expected output is the definition stepped by hand with the whole history.
    func testGreedyDRYSeesItsWholeWindowAndStaysLossless() throws {
        let V = 6
        let target = LoadedModel(info: .tiny, tokenizer: TinyTokenizer(V), model: BigramModel(V: V, seed: 5))
        let draft = LoadedModel(info: .tiny, tokenizer: TinyTokenizer(V), model: BigramModel(V: V, seed: 99))
        var p = SamplingParameters.greedy
        p.maxTokens = 40; p.dryMultiplier = 0.5; p.dryBase = 1.3; p.dryAllowedLength = 2; p.repetitionWindow = 4
        let table = (target.model as! BigramModel).table
        func reference(window: Int) -> [Int] {
            var history = [0]
            for _ in 0..<p.maxTokens {
                var s = Sampler(p)
                history.append(s.sample(table[history.last!], recent: Array(history.suffix(window))))
            }
            return Array(history.dropFirst())
        }
        let expected = reference(window: p.dryWindow)
        XCTAssertNotEqual(expected, reference(window: p.repetitionWindow), "the test cannot tell a short history from the whole")
        XCTAssertEqual(try generate(Generator(model: target), [0], p).ids, expected, "plain decoding")
        for mode in [SpeculativeMode.model(path: "draft", draft: 3), .lookup(ngram: 2, draft: 4)] {
            let g = Generator(model: target)
            g.speculative = mode
            g.setDraftModel(draft, for: mode)
            XCTAssertEqual(try generate(g, [0], p).ids, expected, "speculative \(mode)")
        }
    }

    func testModeParsing() {
        XCTAssertEqual(SpeculativeMode(argument: "slice"), .slice(vocabulary: 16384, draft: 4))
        XCTAssertEqual(SpeculativeMode(argument: "slice:2048@6"), .slice(vocabulary: 2048, draft: 6))
        XCTAssertEqual(SpeculativeMode(argument: "lookup@2"), .lookup(ngram: 3, draft: 2))
        XCTAssertEqual(SpeculativeMode(argument: "sparse:0.25"), .sparse(fraction: 0.25, draft: 4))
        XCTAssertEqual(SpeculativeMode(argument: "model:/x/y.gguf@3"), .model(path: "/x/y.gguf", draft: 3))
        for bad in ["", "slice:x", "sparse", "sparse:2", "lookup:0", "model:", "slice@0", "slice@99", "turbo"] {
            XCTAssertNil(SpeculativeMode(argument: bad), bad)
        }
    }

    func testPromptLookupFindsLatestMatch() {
        XCTAssertEqual(PromptLookup.propose(context: [1, 2, 3, 9, 1, 2, 3, 7, 8, 1, 2, 3], ngram: 3, count: 2), [7, 8])
        XCTAssertEqual(PromptLookup.propose(context: [5, 6, 5], ngram: 3, count: 3), [6, 5])
        XCTAssertEqual(PromptLookup.propose(context: [1, 2, 3], ngram: 2, count: 3), [])
    }

    /// A tiny target and a deliberately different draft (bigram models with fixed
    /// random logits). The empirical distribution of (token₁, token₂, token₃) under
    /// speculative sampling must match the target's exact distribution (chi-square).
    func testSampledDistributionIsPreserved() throws {
        let V = 4
        let target = LoadedModel(info: .tiny, tokenizer: TinyTokenizer(V), model: BigramModel(V: V, seed: 1))
        let draft = LoadedModel(info: .tiny, tokenizer: TinyTokenizer(V), model: BigramModel(V: V, seed: 99))
        var p = SamplingParameters()
        p.temperature = 1; p.topK = 0; p.topP = 1; p.maxTokens = 3; p.seed = 12345
        let mode = SpeculativeMode.model(path: "draft", draft: 2)
        let g = Generator(model: target)
        g.speculative = mode
        g.setDraftModel(draft, for: mode)
        var counts: [[Int]: Int] = [:]
        let n = 12000
        var seeds = SplitMix64(seed: 2024)
        for _ in 0..<n {
            p.seed = seeds.next()
            g.reset()
            g.setDraftModel(draft, for: mode)
            let ids = try generate(g, [0], p).ids
            counts[ids, default: 0] += 1
        }
        // Exact target probabilities of each 3-token sequence after token 0.
        let bigram = (target.model as! BigramModel)
        var chi2 = 0.0, cells = 0
        for a in 1..<V {
            for b in 1..<V {
                for c in 1..<V {
                    let prob = bigram.prob(0, a) * bigram.prob(a, b) * bigram.prob(b, c)
                    let expected = prob * Double(n)
                    guard expected >= 5 else { continue }
                    let o = Double(counts[[a, b, c]] ?? 0)
                    chi2 += (o - expected) * (o - expected) / expected
                    cells += 1
                }
            }
        }
        // Token 0 is never sampled (it is the "EOS" of the tiny tokenizer, masked to -inf).
        XCTAssertGreaterThan(cells, 10)
        // 99.9% quantile of chi-square with (cells-1) dof ≈ dof + 3.1·sqrt(2·dof) + 10 (generous, deterministic seed).
        let dof = Double(cells - 1)
        XCTAssertLessThan(chi2, dof + 3.1 * (2 * dof).squareRoot() + 10, "chi2 \(chi2) over \(cells) cells")
        // And the same test must catch a wrong sampler: the draft's own distribution differs.
        let d = draft.model as! BigramModel
        var chi2Draft = 0.0
        for a in 1..<V {
            for b in 1..<V {
                for c in 1..<V {
                    let expected = d.prob(0, a) * d.prob(a, b) * d.prob(b, c) * Double(n)
                    guard expected >= 5 else { continue }
                    let o = Double(counts[[a, b, c]] ?? 0)
                    chi2Draft += (o - expected) * (o - expected) / expected
                }
            }
        }
        XCTAssertGreaterThan(chi2Draft, 10 * chi2, "the test could not tell the draft from the target")
    }
}

extension SpeculativeDecodingTests {
    /// Sampled speculative decoding with every penalty on: the penalties depend on the
    /// tokens drawn so far, including drafts accepted earlier in the same pass, so the
    /// target distribution of each 4-token sequence is the product of the sampler's
    /// penalized distributions along it. Chi-square against that, and the test must
    /// reject the unpenalized distribution.
    func testSampledDistributionIsPreservedWithPenalties() throws {
        let V = 4
        let target = LoadedModel(info: .tiny, tokenizer: TinyTokenizer(V), model: BigramModel(V: V, seed: 1))
        let draft = LoadedModel(info: .tiny, tokenizer: TinyTokenizer(V), model: BigramModel(V: V, seed: 99))
        var p = SamplingParameters()
        p.temperature = 1; p.topK = 0; p.topP = 1; p.maxTokens = 4
        p.dryMultiplier = 1; p.dryBase = 2; p.dryAllowedLength = 1
        p.presencePenalty = 0.5; p.frequencyPenalty = 0.3; p.repetitionPenalty = 1.2
        let mode = SpeculativeMode.model(path: "draft", draft: 2)
        let g = Generator(model: target)
        var counts: [[Int]: Int] = [:]
        let n = 12000
        var seeds = SplitMix64(seed: 77)
        for _ in 0..<n {
            p.seed = seeds.next()
            g.reset()
            g.setDraftModel(draft, for: mode)
            g.speculative = mode
            counts[try generate(g, [0], p).ids, default: 0] += 1
        }
        let table = (target.model as! BigramModel).table
        func probability(_ seq: [Int], _ params: SamplingParameters) -> Double {
            var history = [0], prob = 1.0
            for t in seq {
                prob *= Sampler(params).distribution(table[history.last!], recent: history).first { $0.id == t }?.p ?? 0
                history.append(t)
            }
            return prob
        }
        var plain = p
        plain.dryMultiplier = 0; plain.presencePenalty = 0; plain.frequencyPenalty = 0; plain.repetitionPenalty = 1
        var chi2 = 0.0, chi2Plain = 0.0, cells = 0
        for code in 0..<81 {
            let seq = [code / 27 % 3 + 1, code / 9 % 3 + 1, code / 3 % 3 + 1, code % 3 + 1]
            let o = Double(counts[seq] ?? 0)
            let expected = probability(seq, p) * Double(n)
            if expected >= 5 { chi2 += (o - expected) * (o - expected) / expected; cells += 1 }
            let expectedPlain = probability(seq, plain) * Double(n)
            if expectedPlain >= 5 { chi2Plain += (o - expectedPlain) * (o - expectedPlain) / expectedPlain }
        }
        XCTAssertGreaterThan(cells, 20)
        let dof = Double(cells - 1)
        XCTAssertLessThan(chi2, dof + 3.1 * (2 * dof).squareRoot() + 10, "chi2 \(chi2) over \(cells) cells")
        XCTAssertGreaterThan(chi2Plain, 10 * chi2, "the test could not tell penalized from unpenalized sampling")
    }
}

extension ModelInfo {
    static let tiny = ModelInfo(
        name: "tiny", path: "", architecture: "bigram", format: "test", parameterCount: 16,
        quantization: "F32", fileSize: 0, contextLength: 64)
}

/// Ids 0..V-1; id 0 plays BOS, no EOS is ever produced (its logit is -inf).
final class TinyTokenizer: TextTokenizer, @unchecked Sendable {
    let vocabularySize: Int
    init(_ v: Int) { vocabularySize = v }
    var bosId: Int { 0 }
    var eosId: Int { -100 }
    var endOfTurnId: Int? { nil }
    func encode(_ text: String, addBOS: Bool) -> [Int] { [0] }
    func pieceBytes(_ id: Int) -> [UInt8] { Array("t\(id) ".utf8) }
    func pieceText(_ id: Int) -> String { "t\(id)" }
}

/// Next-token logits depend only on the previous token.
final class BigramModel: LanguageModel {
    let V: Int
    let table: [[Float]]
    let config: ModelConfig
    init(V: Int, seed: UInt64) {
        self.V = V
        var rng = SplitMix64(seed: seed)
        table = (0..<V).map { _ in [-.infinity] + (1..<V).map { _ in Float(Int(rng.next() % 400)) / 100 } }
        config = ModelConfig(
            architecture: .gemma, vocabularySize: V, hiddenSize: 1, intermediateSize: 1, layerCount: 0,
            headCount: 1, kvHeadCount: 1, headDim: 1, contextLength: 64, layerKinds: [],
            queryScale: 1, embeddingScale: 1)
    }
    func prob(_ a: Int, _ b: Int) -> Double {
        let row = table[a].map { Double($0) }
        let m = row.max()!
        let s = row.reduce(0) { $0 + exp($1 - m) }
        return exp(row[b] - m) / s
    }
    final class State: ModelState {
        var tokens: [Int] = []
        var length: Int { tokens.count }
        func truncate(to n: Int) -> Bool { tokens.removeLast(tokens.count - n); return true }
        var byteCount: Int { 0 }
    }
    func makeState(capacity: Int) -> ModelState { State() }
    func forward(
        _ tokens: [Int], state: ModelState, logitRows: [Int], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float] {
        (state as! State).tokens += tokens
        return logitRows.flatMap { table[tokens[$0]] }
    }
}
