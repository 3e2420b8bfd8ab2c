import COpenBLAS
import Foundation

/// Layer-local distillation of one sparkified FFN layer, with the selection in the loop.
/// Given the inputs X (N × d) that the *sparse* model gives the layer, and the layer's
/// selection (predictor, γ, σ, z from SparkifyFit) fixed per token, the sparse output
///
///   y = Σ_{i∈S} (gelu(gᵢ) − γᵢ) uᵢ D[:, i]  +  M x  =  W φ,   φ = [a; x],  W = [D | M]
///
/// is linear in the down projection D (d × F) and the dropped map M (d × d). Both are
/// refitted by ridge least squares so that y matches the dense FFN on the same inputs,
///
///   W = argmin ‖Y − Φ Wᵀ‖² + Σ_p λ_p ‖W[:, p] − W₀[:, p]‖²
///
/// shrunk towards the base fit W₀ = [D | D diag(γ) U] (the directions calibration text
/// barely spans keep their base values), λ = ridge × the mean diagonal of ΦᵀΦ, per
/// block (activations and inputs have different scales). D then absorbs what the
/// constant γ and a wrong selection get wrong on average: a neuron the predictor keeps
/// too often gets a smaller column, one it drops too often leaves its mean to M.
enum SparkifyDistill {
    struct Result {
        var down: [Float]  // d × F
        var droppedMap: [Float]  // d × d
    }

    /// The layer's quantities on inputs x: dense output Y (N × d) and the sparse kept
    /// activations a (N × F; zero where the neuron is dropped), both float32.
    struct LayerData {
        var dense: [Float]
        var kept: [Float]
    }

    static func layerData(
        x: [Float], samples N: Int, gate: [Float], up: [Float], down: [Float],
        hidden d: Int, width F: Int, fit: SparkifyLayerFit
    ) -> LayerData {
        var g = [Float](repeating: 0, count: N * F), u = [Float](repeating: 0, count: N * F)
        sgemmNT(x, N, gate, F, d, into: &g)
        sgemmNT(x, N, up, F, d, into: &u)
        var predicted = g  // ĝ: the exact gate at rank 0
        if let a = fit.predictorA, let b = fit.predictorB {
            let r = b.count / d
            var xb = [Float](repeating: 0, count: N * r)
            sgemmNT(x, N, b, r, d, into: &xb)
            sgemmNT(xb, N, a, F, r, into: &predicted)
        }
        let selected = SparkifyFit.selection(
            predictedGate: predicted.map(Double.init), up: u.map(Double.init), samples: N, width: F, fit: fit)
        var kept = [Float](repeating: 0, count: N * F), h = [Float](repeating: 0, count: N * F)
        for k in 0..<(N * F) {
            let act = Float(SparkifyFit.gelu(Double(g[k])))
            h[k] = act * u[k]
            if selected[k] { kept[k] = (act - fit.idleActivation[k % F]) * u[k] }
        }
        var y = [Float](repeating: 0, count: N * d)
        sgemmNT(h, N, down, d, F, into: &y)
        return LayerData(dense: y, kept: kept)
    }

    /// ‖Y − (K Dᵀ + X Mᵀ)‖ / ‖Y‖ on inputs x: the sparse layer's relative output error.
    static func relativeError(
        _ data: LayerData, x: [Float], samples N: Int, down: [Float], droppedMap: [Float], hidden d: Int, width F: Int
    ) -> Double {
        var e = data.dense
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(d), Int32(F), -1, data.kept, Int32(F),
            down, Int32(F), 1, &e, Int32(d))
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(d), Int32(d), -1, x, Int32(d),
            droppedMap, Int32(d), 1, &e, Int32(d))
        let num = e.reduce(0.0) { $0 + Double($1) * Double($1) }
        let den = data.dense.reduce(0.0) { $0 + Double($1) * Double($1) }
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// D and M refitted on inputs x (N × d); `down` is the base D, `fit.droppedMap` M₀.
    static func distill(
        x: [Float], samples N: Int, gate: [Float], up: [Float], down: [Float],
        hidden d: Int, width F: Int, fit: SparkifyLayerFit, ridge: Double
    ) throws -> Result {
        let data = layerData(x: x, samples: N, gate: gate, up: up, down: down, hidden: d, width: F, fit: fit)
        let P = F + d
        var phi = [Double](repeating: 0, count: N * P)  // [K | X], row per sample
        for n in 0..<N {
            for i in 0..<F { phi[n * P + i] = Double(data.kept[n * F + i]) }
            for j in 0..<d { phi[n * P + F + j] = Double(x[n * d + j]) }
        }
        var gram = [Double](repeating: 0, count: P * P)  // ΦᵀΦ, upper triangle (row-major)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(P), Int32(N), 1, phi, Int32(P), 0, &gram, Int32(P))
        // Yᵀ Φ (d × P, row-major): column-major that is the P × d right-hand side Φᵀ Y.
        var w = [Double](repeating: 0, count: d * P)
        cblas_dgemm(
            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(P), Int32(N), 1,
            data.dense.map(Double.init), Int32(d), phi, Int32(P), 0, &w, Int32(P))
        let meanK = (0..<F).reduce(0.0) { $0 + gram[$1 * P + $1] } / Double(F)
        let meanX = (F..<P).reduce(0.0) { $0 + gram[$1 * P + $1] } / Double(d)
        for p in 0..<P {
            let lambda = ridge * max(p < F ? meanK : meanX, 1e-30)
            gram[p * P + p] += lambda
            for j in 0..<d { w[j * P + p] += lambda * Double(p < F ? down[j * F + p] : fit.droppedMap[j * d + p - F]) }
        }
        // Row-major upper is column-major lower: dposv reads "L".
        var n32 = Int32(P), nrhs = Int32(d), info: Int32 = 0
        dposv_("L", &n32, &nrhs, &gram, &n32, &w, &n32, &info)
        guard info == 0 else { throw EngineError.format("distillation least squares is singular (dposv info \(info))") }
        var out = Result(down: [Float](repeating: 0, count: d * F), droppedMap: [Float](repeating: 0, count: d * d))
        for j in 0..<d {
            for i in 0..<F { out.down[j * F + i] = Float(w[j * P + i]) }
            for k in 0..<d { out.droppedMap[j * d + k] = Float(w[j * P + F + k]) }
        }
        if ProcessInfo.processInfo.environment["SPARKCHAT_DISTILL_DEBUG"] != nil {
            let before = relativeError(data, x: x, samples: N, down: down, droppedMap: fit.droppedMap, hidden: d, width: F)
            let after = relativeError(data, x: x, samples: N, down: out.down, droppedMap: out.droppedMap, hidden: d, width: F)
            FileHandle.standardError.write("distill: relative layer error \(before) -> \(after)\n".data(using: .utf8)!)
        }
        return out
    }

    /// out (rows × outCols) = a (rows × k) · bᵀ, b being outCols × k; float32.
    static func sgemmNT(_ a: [Float], _ rows: Int, _ b: [Float], _ outCols: Int, _ k: Int, into out: inout [Float]) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outCols), Int32(k), 1,
            a, Int32(k), b, Int32(k), 0, &out, Int32(outCols))
    }
}
