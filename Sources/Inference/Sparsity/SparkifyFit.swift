import COpenBLAS
import Foundation

/// One layer's overlay tensors (float32, row-major), as SparkifyOverlay reads them.
public struct SparkifyLayerFit: Sendable {
    /// F × r and r × d; nil at rank 0 (the exact gate selects).
    public var predictorA: [Float]?
    public var predictorB: [Float]?
    public var idleActivation: [Float]  // γ, F
    public var upScale: [Float]  // σ, F
    /// The score is weighted by the token's exact |u| (the whole up projection is read)
    /// instead of σ.
    public var exactUp = false
    public var thresholdZ: Float
    public var droppedMap: [Float]  // M = W_down diag(γ) W_up, d × d
    /// M was refitted by least squares (DroppedMapRefit, SparkifyDistill): it is no longer
    /// W_down diag(γ) W_up, so decode must not stand γᵢuᵢ through W_down in for it.
    public var droppedMapRefitted = false
    /// The refitted down projection (d × F) of a distilled layer (SparkifyDistill); nil:
    /// the base model's.
    public var down: [Float]? = nil
    /// The dropped neurons' compensation (DroppedCompensation): A (d × r) and B (r × F);
    /// nil: none.
    public var compensation: (a: [Float], b: [Float])? = nil
    /// r of the compensation; 0: none.
    public var compensationRank: Int { compensation.map { $0.b.count / idleActivation.count } ?? 0 }
}

/// The training-free sparkify fit of one GeGLU FFN layer, step for step as the PyTorch
/// reference (scripts/spark/sparkify.py, fit_layer) does it, in double precision; why
/// each piece is there: docs/spark-checkpoint.md, "Sparkified overlay".
///
///   G = X W_gᵀ, U = X W_uᵀ                 on the calibration inputs X (N × d)
///   ĝ = A B x (rank r > 0) or the exact gate (r = 0)
///   σᵢ = rms(Uᵢ), or with `exactUp` the sample's own |Uᵢ|
///   γ = 0, then 3 rounds of
///       t = standardized |gelu(ĝ) − γ| ⊙ σ per sample;  z = quantile(t, 1 − f)
///       γᵢ = Σ gelu(Gᵢ) Uᵢ² [t ≤ z] / Σ Uᵢ² [t ≤ z]      (least squares over dropped samples)
///   z from one more selection with the final γ;  M = W_down diag(γ) W_up
///
/// Why `exactUp`: the neuron's output is (gelu(gᵢ) − γᵢ)·uᵢ, and |uᵢ| varies per token as
/// much as the gate does. Scoring with the token's own |u| instead of its typical size σ
/// chooses a far better set: on Gemma 3 270M at 50% held-out perplexity goes from 1.21x /
/// 1.42x dense to 1.07x / 1.16x (README). It costs reading the whole up projection; a
/// low-rank predictor of u does not pay (rank 128: worse than σ; rank 384 of 640 needed
/// to match it, at 79% of the up projection's multiply-adds).
enum SparkifyFit {
    static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// x: N × d inputs; gate, up: F × d; down: d × F (nn.Linear layout, dequantized).
    static func fitLayer(
        x xf: [Float], samples N: Int, gate gf: [Float], up uf: [Float], down df: [Float],
        hidden d: Int, width F: Int, fraction: Double, rank: Int, exactUp: Bool = false, rounds: Int = 3,
        compensationRank: Int = 0, compensationRidge: Double = DroppedCompensation.defaultRidge
    ) throws -> SparkifyLayerFit {
        precondition(compensationRank == 0 || (rank == 0 && exactUp), "the compensation needs the exact gate and up")
        precondition(xf.count == N * d && gf.count == F * d && uf.count == F * d && df.count == d * F)
        let x = xf.map(Double.init), wg = gf.map(Double.init), wu = uf.map(Double.init), wd = df.map(Double.init)
        let nf = N * F
        var act = [Double](repeating: 0, count: nf), u2 = [Double](repeating: 0, count: nf)
        matmulTransposed(x, N, wg, F, d, into: &act)  // G
        matmulTransposed(x, N, wu, F, d, into: &u2)  // U
        var out = SparkifyLayerFit(
            predictorA: nil, predictorB: nil, idleActivation: [], upScale: [],
            thresholdZ: 0, droppedMap: [])
        for i in 0..<nf { act[i] = gelu(act[i]) }
        let actHat: [Double]
        if rank > 0 {
            var sigma = [Double](repeating: 0, count: d * d)  // Σ = Xᵀ X / N
            cblas_dgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(N), 1 / Double(N),
                x, Int32(d), x, Int32(d), 0, &sigma, Int32(d))
            let (a, b) = try ReducedRankRegression.fit(secondMoment: sigma, gate: wg, rows: F, cols: d, rank: rank)
            out.predictorA = a.map(Float.init); out.predictorB = b.map(Float.init)
            var xb = [Double](repeating: 0, count: N * rank)
            matmulTransposed(x, N, b, rank, d, into: &xb)  // X Bᵀ
            var predicted = [Double](repeating: 0, count: nf)
            matmulTransposed(xb, N, a, F, rank, into: &predicted)  // (X Bᵀ) Aᵀ
            for i in 0..<nf { predicted[i] = gelu(predicted[i]) }
            actHat = predicted
        } else {
            actHat = act  // rank 0: the exact gate selects
        }
        let upValues = compensationRank > 0 ? u2 : []  // before u2 is squared
        var sigmaU = [Double](repeating: 0, count: F)
        for n in 0..<N {
            for i in 0..<F { let u = u2[n * F + i]; u2[n * F + i] = u * u; sigmaU[i] += u * u }
        }
        for i in 0..<F { sigmaU[i] = (sigmaU[i] / Double(N)).squareRoot() }
        // The score's weight per sample and neuron: the exact |u| (u2 holds u²), else σ.
        let weight: [Double]? = exactUp ? u2.map { $0.squareRoot() } : nil
        out.exactUp = exactUp
        var gamma = [Double](repeating: 0, count: F)
        var t = [Double](repeating: 0, count: nf)
        for _ in 0..<rounds {
            standardizedScores(actHat, gamma, sigmaU, N, F, weight: weight, into: &t)
            let z = Double(quantile(t, 1 - fraction))
            var num = [Double](repeating: 0, count: F), den = [Double](repeating: 0, count: F)
            for n in 0..<N {
                for i in 0..<F where t[n * F + i] <= z {
                    let w = u2[n * F + i]
                    num[i] += act[n * F + i] * w; den[i] += w
                }
            }
            for i in 0..<F { gamma[i] = num[i] / max(den[i], 1e-30) }
        }
        standardizedScores(actHat, gamma, sigmaU, N, F, weight: weight, into: &t)
        out.thresholdZ = quantile(t, 1 - fraction)
        out.idleActivation = gamma.map(Float.init)
        out.upScale = sigmaU.map(Float.init)
        var scaledUp = wu  // diag(γ) W_up
        for i in 0..<F { for j in 0..<d { scaledUp[i * d + j] *= gamma[i] } }
        var m = [Double](repeating: 0, count: d * d)
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(F), 1,
            wd, Int32(F), scaledUp, Int32(d), 0, &m, Int32(d))
        out.droppedMap = m.map(Float.init)
        if compensationRank > 0 {
            let z = Double(out.thresholdZ)
            let h = DroppedCompensation.droppedResidual(activation: act, up: upValues, idle: gamma, width: F) { t[$0] > z }
            out.compensation = try DroppedCompensation.fit(
                droppedResidual: h, samples: N, down: wd, hidden: d, width: F, rank: compensationRank, ridge: compensationRidge)
        }
        return out
    }

    /// out (rows × outCols) = a (rows × k) · bᵀ, b being outCols × k.
    static func matmulTransposed(
        _ a: [Double], _ rows: Int, _ b: [Double], _ outCols: Int, _ k: Int,
        into out: inout [Double]
    ) {
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outCols), Int32(k), 1,
            a, Int32(k), b, Int32(k), 0, &out, Int32(outCols))
    }

    /// Per sample n: s = |actHat − γ| ⊙ σ (⊙ weight's row n instead, when given: the
    /// sample's |u|), t = (s − mean s) / std s (population std), the score the engine's
    /// statistical top-k compares with z.
    static func standardizedScores(
        _ actHat: [Double], _ gamma: [Double], _ sigma: [Double], _ N: Int, _ F: Int,
        weight: [Double]? = nil, into t: inout [Double]
    ) {
        for n in 0..<N {
            let base = n * F
            var mean = 0.0
            for i in 0..<F {
                let s = abs(actHat[base + i] - gamma[i]) * (weight?[base + i] ?? sigma[i])
                t[base + i] = s; mean += s
            }
            mean /= Double(F)
            var v = 0.0
            for i in 0..<F { let e = t[base + i] - mean; v += e * e }
            let std = max((v / Double(F)).squareRoot(), 1e-30)
            for i in 0..<F { t[base + i] = (t[base + i] - mean) / std }
        }
    }

    /// Which neurons the fitted layer keeps for each of N samples (N × F, row-major), as the
    /// engine selects them: s = |gelu(ĝ) − γ| weighted by the sample's exact |u| (an exact-up
    /// fit) or σ, standardized, kept where above z. `predictedGate`: ĝ before the GELU (the
    /// predictor's output, or the exact gate at rank 0); `up`: the samples' u. The refit
    /// and the distillation both select through this, so they fit the selection that runs.
    static func selection(predictedGate: [Double], up: [Double], samples N: Int, width F: Int, fit: SparkifyLayerFit) -> [Bool] {
        let activation = predictedGate.map(gelu)
        var t = [Double](repeating: 0, count: N * F)
        standardizedScores(
            activation, fit.idleActivation.map(Double.init), fit.upScale.map(Double.init), N, F,
            weight: fit.exactUp ? up.map(abs) : nil, into: &t)
        let z = Double(fit.thresholdZ)
        return t.map { $0 > z }
    }

    /// torch.quantile(t.float(), q) with linear interpolation, in float32 as torch does
    /// it (the rank q·(n−1) and the interpolation are float32 there, too).
    static func quantile(_ values: [Double], _ q: Double) -> Float {
        var v = values.map(Float.init)
        let rank = Float(q) * Float(v.count - 1)
        let below = Int(rank), above = Int(rank.rounded(.up))
        let lo = select(&v, below)
        let hi = above == below ? lo : select(&v, above)
        let w = rank - Float(below)
        return w < 0.5 ? lo + w * (hi - lo) : hi - (hi - lo) * (1 - w)
    }

    /// The k-th smallest value (quickselect; reorders v). Linear time on average, where
    /// a sort of the 6 M scores of a real layer would cost a second per call.
    static func select(_ v: inout [Float], _ k: Int) -> Float {
        var lo = 0, hi = v.count - 1
        return v.withUnsafeMutableBufferPointer { p in
            while lo < hi {
                let pivot = median3(p[lo], p[(lo + hi) / 2], p[hi])
                var i = lo, j = hi
                while i <= j {
                    while p[i] < pivot { i += 1 }
                    while p[j] > pivot { j -= 1 }
                    if i <= j { p.swapAt(i, j); i += 1; j -= 1 }
                }
                if k <= j { hi = j } else if k >= i { lo = i } else { return p[k] }
            }
            return p[k]
        }
    }

    private static func median3(_ a: Float, _ b: Float, _ c: Float) -> Float {
        max(min(a, b), min(max(a, b), c))
    }
}
