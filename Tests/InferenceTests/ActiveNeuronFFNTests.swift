import XCTest

@testable import Inference

/// Run-time statistical top-k on a dense GGUF model: the gathered path (only active
/// neurons' bytes read) equals the dense path with the same mask, and the counts in
/// the per-token stats follow the target fraction.
final class ActiveNeuronFFNTests: XCTestCase {
    func decode(_ m: LoadedModel, _ ids: [Int], fraction: Double, gathered: Bool) throws -> (logits: [Float], stats: [TokenStats]) {
        let saved = m.model.options
        m.model.options.gatherActiveNeurons = gathered
        defer { m.model.options = saved }
        let s = m.model.makeState(capacity: 64)
        _ = try m.model.forward(Array(ids.dropLast()), state: s, logitRows: [], sparsity: .statTopK(fraction: fraction), stats: nil)
        var stats: [TokenStats] = []
        let l = try m.model.forward([ids.last!], state: s, logitRows: [0], sparsity: .statTopK(fraction: fraction), stats: &stats)
        return (l, stats)
    }

    /// One FFN layer of the real model: the gathered kernel against a float64 reference
    /// that applies the same mask densely (every up row and down column dequantized).
    func testGatheredPathEqualsDenseComputationWithTheSameMask() throws {
        let m = try RealModel.load()
        let gm = try XCTUnwrap(m.model as? GemmaModel)
        let lw = gm.weights.layers[3]
        let D = lw.up.cols, F = lw.up.rows
        var rng = SplitMix64(seed: 9)
        let x = (0..<D).map { _ in Float(Int(rng.next() % 2001) - 1000) / 400 }
        var up = [Float](repeating: 0, count: F * D), down = [Float](repeating: 0, count: D * F)
        for r in 0..<F { up.withUnsafeMutableBufferPointer { lw.up.row(r, into: $0.baseAddress! + r * D) } }
        for r in 0..<D { down.withUnsafeMutableBufferPointer { lw.down.row(r, into: $0.baseAddress! + r * F) } }
        var gateRows = [Float](repeating: 0, count: F * D)
        for r in 0..<F { gateRows.withUnsafeMutableBufferPointer { lw.gate.row(r, into: $0.baseAddress! + r * D) } }
        let gate = (0..<F).map { r in (0..<D).reduce(Float(0)) { $0 + gateRows[r * D + $1] * x[$1] } }
        for f in [0.5, 0.25, 0.08] {
            let ffn = ActiveNeuronFFN()
            var g = gate
            var out = [Float](repeating: 0, count: D)
            let n = g.withUnsafeMutableBufferPointer { gp in
                ffn.run(layer: 3, gate: gp.baseAddress!, x: x, up: lw.up, down: lw.down, fraction: f, out: &out)
            }
            // Reference: same θ and mask, float64, every row read.
            let theta = Double(gate.withUnsafeBufferPointer { StatisticalTopK.threshold($0.baseAddress!, F, fraction: f) })
            var ref = [Double](repeating: 0, count: D)
            var active = 0
            for i in 0..<F where Double(gate[i]) > theta {
                active += 1
                let u = (0..<D).reduce(0.0) { $0 + Double(up[i * D + $1]) * Double(x[$1]) }
                let h = Double(Layers.geluTanh(gate[i])) * u  // hard mask: value kept, not shifted
                for r in 0..<D { ref[r] += h * Double(down[r * F + i]) }
            }
            XCTAssertEqual(n, active, "same mask at f=\(f)")
            let scale = ref.map(abs).max()!
            for r in 0..<D {
                // int8 activations in the up gather and the F16 copy of down: ~1% of the output range.
                XCTAssertEqual(Double(out[r]), ref[r], accuracy: 0.015 * scale, "f=\(f) output \(r)")
            }
        }
    }

    func testActiveCountsFollowTheFraction() throws {
        let m = try RealModel.load()
        for f in [0.5, 0.25, 0.08] {
            let r = try decode(m, [2, 818, 5279, 529, 7001, 563], fraction: f, gathered: true)
            let frac = r.stats[0].ffnActiveFraction
            // Gate pre-activations are not exactly Gaussian; within a factor of two of the target.
            XCTAssertGreaterThan(frac, f / 2, "f=\(f)")
            XCTAssertLessThan(frac, f * 2, "f=\(f)")
            XCTAssertLessThan(r.stats[0].flops, r.stats[0].flopsDense)
        }
    }
}
