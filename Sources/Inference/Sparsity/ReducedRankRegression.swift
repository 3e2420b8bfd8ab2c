import COpenBLAS
import Foundation

/// The sparkify fit's gate predictor (docs/spark-checkpoint.md, "Sparkified overlay",
/// point 3): with Σ = E[x xᵀ] over calibration inputs, the best rank-r map in
/// E‖W_g x − A B x‖² is A = U_r, B = U_rᵀ W_g, where U_r are the top r left singular
/// vectors of W_g Σ^{1/2}. Double precision throughout, as the PyTorch reference
/// (scripts/spark/sparkify.py, fit_layer) computes it; LAPACK comes from OpenBLAS.
enum ReducedRankRegression {
    /// A (F × r) and B (r × d), row-major, from the second-moment matrix Σ (d × d) and
    /// the gate W_g (F × d).
    static func fit(
        secondMoment sigma: [Double], gate: [Double], rows F: Int, cols d: Int,
        rank r: Int
    ) throws -> (a: [Double], b: [Double]) {
        precondition(r > 0 && r <= min(F, d))
        let half = try symmetricSquareRoot(sigma, d)
        var p = [Double](repeating: 0, count: F * d)  // W_g Σ^{1/2}
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(F), Int32(d), Int32(d), 1,
            gate, Int32(d), half, Int32(d), 0, &p, Int32(d))
        let u = try topLeftSingularVectors(p, rows: F, cols: d, count: r)  // F × r
        var b = [Double](repeating: 0, count: r * d)  // U_rᵀ W_g
        cblas_dgemm(
            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(r), Int32(d), Int32(F), 1,
            u, Int32(r), gate, Int32(d), 0, &b, Int32(d))
        return (u, b)
    }

    /// Q diag(√max(λ, 0)) Qᵀ of a symmetric n × n matrix (negative eigenvalues are
    /// rounding noise of a positive semi-definite Σ).
    static func symmetricSquareRoot(_ m: [Double], _ n: Int) throws -> [Double] {
        let (values, vectors) = try symmetricEigen(m, n)
        // vectors is column-major: eigenvector j is vectors[j*n ..< (j+1)*n].
        var scaled = vectors
        for j in 0..<n {
            let s = max(values[j], 0).squareRoot()
            for i in 0..<n { scaled[j * n + i] *= s }
        }
        var out = [Double](repeating: 0, count: n * n)
        // (column-major) out = scaled · vectorsᵀ; symmetric, so the layout does not matter.
        cblas_dgemm(
            CblasColMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(n), 1,
            scaled, Int32(n), vectors, Int32(n), 0, &out, Int32(n))
        return out
    }

    /// Eigenvalues (ascending) and eigenvectors (column-major) of a symmetric matrix: dsyevd.
    static func symmetricEigen(_ m: [Double], _ n: Int) throws -> (values: [Double], vectors: [Double]) {
        var a = m, w = [Double](repeating: 0, count: n)
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var wq = [Double](repeating: 0, count: 1), iq = [Int32](repeating: 0, count: 1)
        dsyevd_("V", "L", &nn, &a, &lda, &w, &wq, &lwork, &iq, &liwork, &info)  // workspace query
        guard info == 0 else { throw EngineError.format("dsyevd workspace query failed (info \(info))") }
        lwork = Int32(wq[0]); liwork = iq[0]
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_("V", "L", &nn, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else { throw EngineError.format("eigendecomposition did not converge (dsyevd info \(info))") }
        return (w, a)
    }

    /// The top `count` left singular vectors of a row-major rows × cols matrix, as a
    /// row-major rows × count matrix: dgesdd. Row-major P is column-major Pᵀ, whose
    /// right singular vectors (LAPACK's Vᵀ) are P's left ones.
    static func topLeftSingularVectors(_ p: [Double], rows: Int, cols: Int, count: Int) throws -> [Double] {
        var a = p
        var m = Int32(cols), n = Int32(rows), lda = Int32(cols), info: Int32 = 0
        let k = min(rows, cols)
        var s = [Double](repeating: 0, count: k)
        var u = [Double](repeating: 0, count: cols * k), vt = [Double](repeating: 0, count: k * rows)
        var ldu = Int32(cols), ldvt = Int32(k), lwork: Int32 = -1
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var wq = [Double](repeating: 0, count: 1)
        dgesdd_("S", &m, &n, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &wq, &lwork, &iwork, &info)
        guard info == 0 else { throw EngineError.format("dgesdd workspace query failed (info \(info))") }
        lwork = Int32(wq[0])
        var work = [Double](repeating: 0, count: Int(lwork))
        dgesdd_("S", &m, &n, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else { throw EngineError.format("SVD did not converge (dgesdd info \(info))") }
        // vt is column-major k × rows: singular vector j's entry i is vt[j + i*k] (descending σ).
        var out = [Double](repeating: 0, count: rows * count)
        for i in 0..<rows {
            for j in 0..<count { out[i * count + j] = vt[j + i * k] }
        }
        return out
    }
}
