import Foundation
import XCTest

@testable import Inference

/// Temperature, top-k, top-p, min-p and the repetition penalties against their
/// definitions on distributions whose answers are known in closed form.
final class SamplerTests: XCTestCase {
    func params(_ t: Double, k: Int = 0, p: Double = 1, minP: Double = 0) -> SamplingParameters {
        var s = SamplingParameters(); s.temperature = t; s.topK = k; s.topP = p; s.minP = minP; s.seed = 1; return s
    }

    func testTemperatureScalesLogits() {
        // logits log(4), log(2), log(1), log(1): at T=1 probabilities 0.5, 0.25, 0.125, 0.125.
        let l: [Float] = [log(4), log(2), 0, 0]
        let d = Sampler(params(1)).distribution(l)
        XCTAssertEqual(Array(d.map(\.id).prefix(2)), [0, 1])
        XCTAssertEqual(d[0].p, 0.5, accuracy: 1e-6)
        XCTAssertEqual(d[1].p, 0.25, accuracy: 1e-6)
        // At T=0.5 the logits double: 16:4:1:1.
        let d2 = Sampler(params(0.5)).distribution(l)
        XCTAssertEqual(d2[0].p, 16.0 / 22, accuracy: 1e-6)
        XCTAssertEqual(d2[1].p, 4.0 / 22, accuracy: 1e-6)
    }

    func testTopKKeepsKAndRenormalises() {
        let l: [Float] = [0, 3, 1, 2, -1]
        let d = Sampler(params(1, k: 2)).distribution(l)
        XCTAssertEqual(d.map(\.id), [1, 3])
        let e = exp(1.0)
        XCTAssertEqual(d[0].p, e / (e + 1), accuracy: 1e-6)
    }

    func testTopPKeepsSmallestPrefixReachingP() {
        let l: [Float] = [log(0.5), log(0.3), log(0.15), log(0.05)]
        XCTAssertEqual(Sampler(params(1, p: 0.5)).distribution(l).map(\.id), [0])
        XCTAssertEqual(Sampler(params(1, p: 0.79)).distribution(l).map(\.id), [0, 1])
        XCTAssertEqual(Sampler(params(1, p: 0.81)).distribution(l).map(\.id), [0, 1, 2])
        let d = Sampler(params(1, p: 0.81)).distribution(l)
        XCTAssertEqual(d[2].p, 0.15 / 0.95, accuracy: 1e-6)
    }

    func testMinPDropsTokensBelowFractionOfTop() {
        let l: [Float] = [log(0.5), log(0.3), log(0.15), log(0.05)]
        // min-p 0.35: keep p >= 0.175 → ids 0, 1.
        XCTAssertEqual(Sampler(params(1, minP: 0.35)).distribution(l).map(\.id), [0, 1])
    }

    func testGreedyIsArgmaxAndDeterministic() {
        var s = Sampler(params(0))
        XCTAssertEqual(s.sample([0.1, 5, 4.9, -2]), 1)
    }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegative() {
        var p = params(0); p.repetitionPenalty = 2
        var s = Sampler(p)
        // id 0 (logit 3, seen) becomes 1.5 < 2 (id 1): greedy picks id 1.
        XCTAssertEqual(s.sample([3, 2, -1], recent: [0]), 1)
    }

    func testSampledFrequenciesFollowTheDistribution() {
        let l: [Float] = [log(0.6), log(0.3), log(0.1)]
        var s = Sampler(params(1))
        var counts = [0, 0, 0]
        let n = 20000
        for _ in 0..<n { counts[s.sample(l)] += 1 }
        // 5 sigma bounds of a binomial.
        for (i, p) in [0.6, 0.3, 0.1].enumerated() {
            XCTAssertEqual(Double(counts[i]) / Double(n), p, accuracy: 5 * (p * (1 - p) / Double(n)).squareRoot())
        }
    }

    func testSeedReproduces() {
        let l: [Float] = (0..<100).map { Float($0 % 7) }
        var a = Sampler(params(1)), b = Sampler(params(1))
        XCTAssertEqual((0..<50).map { _ in a.sample(l) }, (0..<50).map { _ in b.sample(l) })
    }

    // MARK: presence, frequency and repetition penalties

    func penalized(_ p: SamplingParameters, _ l: [Float], recent: [Int], breakers: Set<Int> = []) -> [Float] {
        Sampler(p, sequenceBreakers: breakers).penalized(l, recent: recent)
    }

    func testPresenceAndFrequencyFollowOpenAIDefinition() {
        var p = params(0); p.presencePenalty = 0.5; p.frequencyPenalty = 0.25
        // id 1 seen twice: 1 − 0.5 − 2·0.25 = 0; id 2 seen once: 2 − 0.5 − 0.25 = 1.25; ids 0, 3 unseen.
        XCTAssertEqual(penalized(p, [0, 1, 2, 3], recent: [1, 1, 2]), [0, 0, 1.25, 3])
        // Only the last repetitionWindow tokens count: [1, 2] → id 1 seen once.
        p.repetitionWindow = 2
        XCTAssertEqual(penalized(p, [0, 1, 2, 3], recent: [1, 1, 2]), [0, 0.25, 1.25, 3])
    }

    func testRepetitionPenaltyAppliesBeforePresenceAndFrequency() {
        var p = params(0); p.repetitionPenalty = 2; p.presencePenalty = 0.5; p.frequencyPenalty = 0.25
        // id 0: 3/2 − 0.5 − 0.5 = 0.5; id 1: −1·2 − 0.5 − 0.25 = −2.75 (llama.cpp order).
        XCTAssertEqual(penalized(p, [3, -1, 7], recent: [0, 1, 0]), [0.5, -2.75, 7])
    }

    func testPenaltiesOffLeaveLogitsUnchanged() {
        let l: [Float] = [0.5, -1, 2, 4]
        XCTAssertEqual(penalized(params(1), l, recent: [0, 1, 2, 3, 0, 1, 2]), l)
        XCTAssertTrue(Sampler(params(1)).penalties(recent: [0, 1, 0, 1, 0, 1]).isEmpty)
    }

    func testGreedyWithPresencePenaltyPicksTheUnseenToken() {
        var p = params(0); p.presencePenalty = 1
        var s = Sampler(p)
        // id 0 (2.0, seen) drops to 1.0 below id 2 (1.5).
        XCTAssertEqual(s.sample([2, 0, 1.5], recent: [0, 1]), 2)
        XCTAssertEqual(Sampler(params(0)).penalized([2, 0, 1.5], recent: [0, 1]), [2, 0, 1.5])
    }

    // MARK: DRY

    func dry(_ multiplier: Double = 0.8, base: Double = 1.75, allowed: Int = 2) -> SamplingParameters {
        var p = params(0); p.dryMultiplier = multiplier; p.dryBase = base; p.dryAllowedLength = allowed; return p
    }

    /// The history ends in [4, 9, 1, 2]. That 4-gram opens the history followed by 8
    /// (a repeat of n = 4 if 8 came next); [1, 2] also occurs after 5, followed by 3 (n = 2).
    let dryHistory = [4, 9, 1, 2, 8, 5, 1, 2, 3, 4, 9, 1, 2]

    func testDRYPenalizesEachTokenThatExtendsARepeat() {
        let l = [Float](repeating: 0, count: 10)
        let out = penalized(dry(), l, recent: dryHistory)
        // 8: 0.8·1.75^(4−2) = 2.45; 3: 0.8·1.75^0 = 0.8; nothing else extends a repeat.
        XCTAssertEqual(out[8], -2.45, accuracy: 1e-5)
        XCTAssertEqual(out[3], -0.8, accuracy: 1e-6)
        for id in [0, 1, 2, 4, 5, 6, 7, 9] { XCTAssertEqual(out[id], 0, "id \(id)") }
    }

    func testDRYAllowedLengthIsTheBoundary() {
        let l = [Float](repeating: 0, count: 10)
        // allowed 3: the n = 2 repeat (→ 3) is free; 8 pays 0.8·1.75^(4−3).
        let out = penalized(dry(allowed: 3), l, recent: dryHistory)
        XCTAssertEqual(out[3], 0)
        XCTAssertEqual(out[8], -1.4, accuracy: 1e-5)
        // allowed 4: n = 4 is exactly the boundary, penalized by the multiplier alone; allowed 5: nothing.
        XCTAssertEqual(penalized(dry(allowed: 4), l, recent: dryHistory)[8], -0.8, accuracy: 1e-6)
        XCTAssertEqual(penalized(dry(allowed: 5), l, recent: dryHistory), l)
        // allowed 1: single-token repeats count too: after "2" came 8 and 3 (both longer), so same ids.
        let one = penalized(dry(allowed: 1), l, recent: dryHistory)
        XCTAssertEqual(one[8], -Float(0.8 * pow(1.75, 3)), accuracy: 1e-4)
        XCTAssertEqual(one[3], -Float(0.8 * 1.75), accuracy: 1e-5)
    }

    func testDRYSequenceBreakersEndAMatch() {
        let l = [Float](repeating: 0, count: 10)
        // 9 is a breaker: the tail's repeat can only be [1, 2], so 8 gets n = 2 like 3.
        let cut = penalized(dry(), l, recent: dryHistory, breakers: [9])
        XCTAssertEqual(cut[8], -0.8, accuracy: 1e-6)
        XCTAssertEqual(cut[3], -0.8, accuracy: 1e-6)
        // 1 is a breaker: only [2] remains, shorter than allowedLength 2: no penalty at all.
        XCTAssertEqual(penalized(dry(), l, recent: dryHistory, breakers: [1]), l)
        // A breaker candidate is never penalized (ending a line or turn stays possible).
        let spared = penalized(dry(), l, recent: dryHistory, breakers: [8])
        XCTAssertEqual(spared[8], 0)
        XCTAssertEqual(spared[3], -0.8, accuracy: 1e-6)
    }

    func testDRYWindowLimitsTheHistorySearched() {
        var p = dry(); p.dryWindow = 9  // [8, 5, 1, 2, 3, 4, 9, 1, 2]: the opening 4-gram is gone
        let out = penalized(p, [Float](repeating: 0, count: 10), recent: dryHistory)
        XCTAssertEqual(out[8], 0)
        XCTAssertEqual(out[3], -0.8, accuracy: 1e-6)
    }

    func testGreedyWithDRYLeavesAVerbatimLoop() {
        // "A B C A B C A B" then C is the favourite (2.0), D close behind (1.9).
        let history = [0, 1, 2, 0, 1, 2, 0, 1]
        let l: [Float] = [0, 0, 2.0, 1.9]
        var plain = Sampler(params(0))
        XCTAssertEqual(plain.sample(l, recent: history), 2)
        var s = Sampler(dry())
        // C would extend a repeat of n = 5: 0.8·1.75^3 ≈ 4.29 off C, so D wins.
        XCTAssertEqual(s.sample(l, recent: history), 3)
        XCTAssertEqual(s.penalized(l, recent: history)[2], Float(2.0 - 0.8 * pow(1.75, 3)), accuracy: 1e-5)
    }

    /// The linear (Z-array) search agrees with the definition computed the slow way on
    /// random, highly repetitive histories with random breakers.
    func testDRYRepeatLengthsMatchBruteForce() {
        var rng = SplitMix64(seed: 7)
        for trial in 0..<300 {
            let n = Int(rng.next() % 40) + 1
            let alphabet = UInt64(trial % 3 + 2)
            let h = (0..<n).map { _ in Int(rng.next() % alphabet) }
            let breakers: Set<Int> = trial % 4 == 0 ? [Int(rng.next() % alphabet)] : []
            let allowed = Int(rng.next() % 4)
            let fast = DRYPenalty.repeatLengths(history: h[...], allowedLength: allowed, breakers: breakers)
            XCTAssertEqual(fast, bruteForceRepeatLengths(h, allowed: allowed, breakers: breakers), "history \(h) breakers \(breakers) allowed \(allowed)")
        }
    }

    /// For each candidate t: the longest n such that the last n tokens followed by t
    /// occur earlier, with no breaker inside the repeated n tokens, and t no breaker.
    func bruteForceRepeatLengths(_ h: [Int], allowed: Int, breakers: Set<Int>) -> [Int: Int] {
        var out: [Int: Int] = [:]
        for i in 0..<max(h.count - 1, 0) {  // an earlier occurrence ending at i, followed by h[i + 1]
            var len = 0
            while len <= i && h[i - len] == h[h.count - 1 - len] && !breakers.contains(h[i - len]) { len += 1 }
            let t = h[i + 1]
            if len >= max(allowed, 1) && !breakers.contains(t) { out[t] = max(out[t] ?? 0, len) }
        }
        return out
    }

    func testDRYPenaltyStaysFiniteForHugeRepeats() {
        let history = [Int](repeating: 5, count: 1000)
        let out = penalized(dry(2, base: 10), [0, 0, 0, 0, 0, 1, 0], recent: history)
        XCTAssertTrue(out[5].isFinite)
        XCTAssertLessThan(out[5], -1e29)
    }

    func testSequenceBreakerIdsComeFromTokenText() {
        let tok = PieceTokenizer(["", "a", "b\n", "c:", "\"q", "**", "hello", "<eos>"], eos: 7)
        let ids = DRYPenalty.sequenceBreakerIds(tokenizer: tok, breakers: SamplingParameters().drySequenceBreakers)
        // 0 and 7 have no text (control tokens); 2–5 contain \n, :, " and *.
        XCTAssertEqual(ids, [0, 2, 3, 4, 5, 7])
        XCTAssertEqual(DRYPenalty.sequenceBreakerIds(tokenizer: tok, breakers: ["ell"]), [0, 6, 7])
    }

    /// DRY costs far less than a forward pass: on a 1024-token history (a looping reply,
    /// the worst case: many long matches) and a 262k vocabulary, computing and applying
    /// every penalty takes microseconds. Only the few ids that extend a repeat are touched.
    func testDRYCostOnLongHistoryIsSmall() {
        var p = dry(); p.presencePenalty = 0.5; p.frequencyPenalty = 0.1
        var rng = SplitMix64(seed: 3)
        let phrase = (0..<13).map { _ in Int(rng.next() % 262_144) }
        let loop = (0..<1024).map { phrase[$0 % phrase.count] }
        let varied = (0..<1024).map { _ in Int(rng.next() % 3000) }  // a small working vocabulary, many short repeats
        let sampler = Sampler(p, sequenceBreakers: [phrase[5]])
        var logits = [Float](repeating: 0, count: 262_144)
        for (name, history) in [("loop", loop), ("varied", varied)] {
            var times: [Double] = []
            for _ in 0..<200 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                sampler.penalties(recent: history).apply(to: &logits)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            let median = times.sorted()[times.count / 2]
            print("DRY+presence+frequency on a 1024-token \(name) history: median \(String(format: "%.3f", median)) ms per token")
            XCTAssertLessThan(median, 1.0, name)
        }
    }
}

/// A tokenizer over a fixed list of pieces (for the sequence-breaker scan).
final class PieceTokenizer: TextTokenizer, @unchecked Sendable {
    let pieces: [String]
    let eos: Int
    init(_ pieces: [String], eos: Int) { self.pieces = pieces; self.eos = eos }
    var vocabularySize: Int { pieces.count }
    var bosId: Int { 0 }
    var eosId: Int { eos }
    var endOfTurnId: Int? { nil }
    func encode(_ text: String, addBOS: Bool) -> [Int] { [] }
    func pieceBytes(_ id: Int) -> [UInt8] { id == eos ? [] : Array(pieces[id].utf8) }
    func pieceText(_ id: Int) -> String { pieces[id] }
}
