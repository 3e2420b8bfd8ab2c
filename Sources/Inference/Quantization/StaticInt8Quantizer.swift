/// Simulated static per-tensor int8 activations: every linear-layer input is rounded to
/// a multiple of its site's fixed scale (max |x| of calibration / 127), clamped to
/// ±127 steps, and handed to the float product. The scales never change after
/// calibration, which is what makes outliers costly: one huge value sets the step for
/// every value of that tensor, in every later token.
final class StaticInt8Quantizer: LinearInputTap {
    let sites: ActivationSites
    let scales: [Float]
    private let scratch = ScratchBuffer()
    private var last: (site: Int, x: UnsafePointer<Float>, rows: Int)?

    init(sites: ActivationSites, calibration: ActivationProfile) {
        self.sites = sites
        scales = calibration.maxAbs.map { $0 / 127 }
    }

    func input(of w: WeightMatrix, _ x: UnsafePointer<Float>, rows T: Int) -> UnsafePointer<Float> {
        guard let s = sites.site(of: w) else { return x }
        let n = T * w.cols
        let out = scratch.floats(n)
        // k and v (and up) read what q (gate) read: the rounded copy is still in scratch.
        if let l = last, l.site == s, l.x == x, l.rows == T { return UnsafePointer(out) }
        last = (s, x, T)
        Self.quantize(x, n, scale: scales[s], into: out)
        return UnsafePointer(out)
    }

    func endPass() { last = nil }

    static func quantize(_ x: UnsafePointer<Float>, _ n: Int, scale: Float, into out: UnsafeMutablePointer<Float>) {
        guard scale > 0, scale.isFinite else {
            out.initialize(repeating: 0, count: n)
            return
        }
        let inverse = 1 / scale
        for i in 0..<n { out[i] = min(127, max(-127, (x[i] * inverse).rounded())) * scale }
    }
}
