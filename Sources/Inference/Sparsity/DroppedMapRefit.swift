import COpenBLAS
import Foundation

/// The refit that closes most of the sparkified FFN's gap to the dense one: with the
/// selection fixed (predictor, γ, σ, z from SparkifyFit), the dropped map M is refitted
/// by ridge least squares so that the sparse layer's output matches a target on
/// calibration inputs X (N × d):
///
///   kept part  K = Σ_{i∈S} (gelu(gᵢ) − γᵢ) uᵢ D[:, i]        (the engine's exact part)
///   M = argmin ‖Y − K − X Mᵀ‖² + λ‖M − M₀‖²,   λ = ridge · tr(XᵀX)/d
///
/// shrunk towards the reference fit's M₀ = D diag(γ) U, not towards 0: the directions
/// of x that the calibration text barely spans keep the reference's map (shrinking to 0
/// lost more on held-out text than the refit gained).
///
/// Y is the dense FFN output. Fitted on the inputs the *sparse* model gives the layer
/// (SparkifyFitter's refit passes), M also absorbs the neurons the cheap predictor
/// selects wrongly, which the per-neuron constant γ (M = D diag(γ) U) cannot: measured
/// on Gemma 3 270M it is most of the perplexity gap (docs/spark-checkpoint.md).
enum DroppedMapRefit {
    /// The dense FFN output D (gelu(G x) ⊙ U x) of every row of x (N × d), float32.
    static func denseOutput(
        x xf: [Float], samples N: Int, gate: [Float], up: [Float], down: [Float],
        hidden d: Int, width F: Int
    ) -> [Float] {
        var g = [Float](repeating: 0, count: N * F), u = [Float](repeating: 0, count: N * F)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(F), Int32(d), 1, xf, Int32(d), gate, Int32(d), 0, &g, Int32(F))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(F), Int32(d), 1, xf, Int32(d), up, Int32(d), 0, &u, Int32(F))
        for i in 0..<(N * F) { g[i] = Float(SparkifyFit.gelu(Double(g[i]))) * u[i] }
        var y = [Float](repeating: 0, count: N * d)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(d), Int32(F), 1, g, Int32(F), down, Int32(F), 0, &y, Int32(d))
        return y
    }

    /// M (d × d, row-major) for the layer `fit` on inputs x with targets y (both N × d).
    static func refit(
        x xf: [Float], target yf: [Float], samples N: Int, gate gf: [Float], up uf: [Float], down df: [Float],
        hidden d: Int, width F: Int, fit: SparkifyLayerFit, ridge: Double
    ) throws -> [Float] {
        let x = xf.map(Double.init), wg = gf.map(Double.init)
        var g = [Double](repeating: 0, count: N * F), u = [Double](repeating: 0, count: N * F)
        SparkifyFit.matmulTransposed(x, N, wg, F, d, into: &g)
        SparkifyFit.matmulTransposed(x, N, uf.map(Double.init), F, d, into: &u)
        // The selection, as SparkifyFit and the engine make it.
        var predicted = g
        if let a = fit.predictorA, let b = fit.predictorB {
            let r = b.count / d
            var xb = [Double](repeating: 0, count: N * r)
            SparkifyFit.matmulTransposed(x, N, b.map(Double.init), r, d, into: &xb)
            SparkifyFit.matmulTransposed(xb, N, a.map(Double.init), F, r, into: &predicted)
        }
        let selected = SparkifyFit.selection(predictedGate: predicted, up: u, samples: N, width: F, fit: fit)
        let gamma = fit.idleActivation.map(Double.init)
        var kept = [Double](repeating: 0, count: N * F)  // (gelu(g) − γ) u on S, else 0
        for n in 0..<N {
            for i in 0..<F where selected[n * F + i] {
                kept[n * F + i] = (SparkifyFit.gelu(g[n * F + i]) - gamma[i]) * u[n * F + i]
            }
        }
        var residual = yf.map(Double.init)  // R = Y − K
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(d), Int32(F), -1,
            kept, Int32(F), df.map(Double.init), Int32(F), 1, &residual, Int32(d))
        var xtx = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(N), 1, x, Int32(d), x, Int32(d), 0, &xtx, Int32(d))
        let lambda = ridge * (0..<d).reduce(0.0) { $0 + xtx[$1 * d + $1] } / Double(d)
        for i in 0..<d { xtx[i * d + i] += lambda }
        // Rᵀ X, row-major, is Xᵀ R column-major: dposv's right-hand side for Mᵀ, and its
        // column-major solution Mᵀ read row-major is M.
        var m = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(N), 1, residual, Int32(d), x, Int32(d), 0, &m, Int32(d))
        for i in 0..<(d * d) { m[i] += lambda * Double(fit.droppedMap[i]) }  // + λ M₀ᵀ (column-major)
        var n32 = Int32(d), info: Int32 = 0
        dposv_("L", &n32, &n32, &xtx, &n32, &m, &n32, &info)
        guard info == 0 else { throw EngineError.format("dropped-map least squares is singular (dposv info \(info))") }
        if ProcessInfo.processInfo.environment["SPARKCHAT_REFIT_DEBUG"] != nil {
            // Relative error of the layer's output on its calibration inputs, before and after.
            func err(_ mm: [Double]) -> Double {
                var e = residual
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(d), Int32(d), -1, x, Int32(d), mm, Int32(d), 1, &e, Int32(d))
                return (e.reduce(0) { $0 + $1 * $1 } / yf.reduce(0.0) { $0 + Double($1) * Double($1) }).squareRoot()
            }
            FileHandle.standardError.write("refit: relative error \(err(fit.droppedMap.map(Double.init))) -> \(err(m))\n".data(using: .utf8)!)
        }
        return m.map(Float.init)
    }
}
