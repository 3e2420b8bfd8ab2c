import XCTest
@testable import Inference

/// Temperature, top-k, top-p and min-p against their definitions on distributions
/// whose answers are known in closed form.
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
}
