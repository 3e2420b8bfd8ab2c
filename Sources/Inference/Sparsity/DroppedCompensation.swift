import COpenBLAS
import Foundation

/// The dropped neurons' compensation of a sparkify layer (docs/spark-checkpoint.md,
/// "Dropped-neuron compensation"): a rank-r map A B of what the idle constant misses.
///
/// A layer keeps neuron i's exact (gelu(gᵢ) − γᵢ)uᵢ when it is selected and stands γᵢuᵢ
/// in for it when it is dropped (the dropped map M). What is lost is
///   e = W_down h,  hᵢ = (gelu(gᵢ) − γᵢ)uᵢ on the dropped neurons, 0 on the kept ones.
/// An exact-up layer at rank 0 computes every gᵢ and uᵢ for its selection anyway, so h is
/// known at no cost; only W_down h is too dear (that is the dense down projection). The
/// best rank-r map in E‖W_down h − A B h‖² over calibration h is reduced-rank regression
/// (the gate predictor's fit, with h for x and W_down for W_g): A = U_r, B = U_rᵀ W_down,
/// U_r the top left singular vectors of W_down Σ^{1/2}, Σ = E[h hᵀ] + λ·mean(diag Σ)·I
/// (the ridge keeps directions the calibration text barely visits from being fitted to
/// noise). It costs r·(F + d) multiply-adds per token: at r = 64 on Gemma 3 270M, 13% of
/// W_down.
public enum DroppedCompensation {
    public static let defaultRidge = 1e-3
    /// h (N × F) from the layer's activations gelu(g) and up values (N × F each) and
    /// which neurons the fitted selection keeps (kept(n·F + i)).
    static func droppedResidual(
        activation: [Double], up: [Double], idle: [Double], width F: Int, kept: (Int) -> Bool
    ) -> [Double] {
        var h = [Double](repeating: 0, count: activation.count)
        for k in h.indices where !kept(k) { h[k] = (activation[k] - idle[k % F]) * up[k] }
        return h
    }

    /// A (d × r) and B (r × F), row-major float, fitted on the residuals h (N × F) of
    /// the layer whose down projection is `down` (d × F).
    static func fit(
        droppedResidual h: [Double], samples N: Int, down: [Double], hidden d: Int, width F: Int, rank r: Int, ridge: Double
    ) throws -> (a: [Float], b: [Float]) {
        precondition(r > 0 && r <= min(d, F) && h.count == N * F && down.count == d * F)
        var sigma = [Double](repeating: 0, count: F * F)
        cblas_dgemm(
            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(F), Int32(F), Int32(N), 1 / Double(N),
            h, Int32(F), h, Int32(F), 0, &sigma, Int32(F))
        var trace = 0.0
        for i in 0..<F { trace += sigma[i * F + i] }
        let lambda = ridge * max(trace / Double(F), 1e-30)
        for i in 0..<F { sigma[i * F + i] += lambda }
        let (a, b) = try ReducedRankRegression.fit(secondMoment: sigma, gate: down, rows: d, cols: F, rank: r)
        return (a.map(Float.init), b.map(Float.init))
    }
}
