import Foundation

/// Statistical top-k (Spark; Gemma 3n's "gaussian top-k"): keep the entries above
/// θ = mean(x) + std(x)·Φ⁻¹(1 − k/n), shifted down by θ: `max(x − θ, 0)`.
/// Linear time, no sort: the threshold comes from the first two moments, assuming
/// the entries are roughly Gaussian.
public enum StatisticalTopK {
    /// Applies the soft threshold in place; returns the number of non-zero entries.
    @discardableResult
    public static func apply(_ x: UnsafeMutablePointer<Float>, _ n: Int, fraction: Double) -> Int {
        let theta = threshold(x, n, fraction: fraction)
        var active = 0
        for i in 0..<n {
            let v = x[i] - theta
            if v > 0 { x[i] = v; active += 1 } else { x[i] = 0 }
        }
        return active
    }

    /// Hard form for checkpoints not trained with the soft threshold: entries at or below
    /// θ become 0, the others keep their value. Returns the number kept.
    @discardableResult
    public static func applyMask(_ x: UnsafeMutablePointer<Float>, _ n: Int, fraction: Double) -> Int {
        let theta = threshold(x, n, fraction: fraction)
        var active = 0
        for i in 0..<n { if x[i] > theta { active += 1 } else { x[i] = 0 } }
        return active
    }

    /// mean + population std · Φ⁻¹(1 − fraction).
    public static func threshold(_ x: UnsafePointer<Float>, _ n: Int, fraction: Double) -> Float {
        threshold(x, n, z: inverseNormalCDF(1 - fraction))
    }

    /// mean + population std · z (a sparkify overlay calibrates z per layer, since its
    /// scores are not Gaussian).
    public static func threshold(_ x: UnsafePointer<Float>, _ n: Int, z: Double) -> Float {
        var sum: Double = 0, sumSq: Double = 0
        for i in 0..<n { let v = Double(x[i]); sum += v; sumSq += v * v }
        let mean = sum / Double(n)
        let variance = max(0, sumSq / Double(n) - mean * mean)
        return Float(mean + variance.squareRoot() * z)
    }

    /// Φ⁻¹(p) by Acklam's rational approximation refined with one Halley step
    /// (|error| < 1e-12 over (0, 1)).
    public static func inverseNormalCDF(_ p: Double) -> Double {
        if p <= 0 { return -.infinity }
        if p >= 1 { return .infinity }
        let a = [
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
            1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
        ]
        let b = [
            -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
            6.680131188771972e+01, -1.328068155288572e+01
        ]
        let c = [
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
            -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
        ]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let lo = 0.02425, hi = 1 - lo
        var x: Double
        if p < lo {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= hi {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        // Halley refinement against erfc.
        let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x -= u / (1 + x * u / 2)
        return x
    }
}
