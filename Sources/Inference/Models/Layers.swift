import CKernels
import Foundation

/// The layers every Gemma-family model shares, written once.
enum Layers {
    /// Gemma RMSNorm: x / sqrt(mean(x²) + eps) * w, where w already includes Gemma's
    /// "+1" (GGUF stores it that way; the safetensors loader adds it when reading).
    static func rmsNorm(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        _ n: Int, eps: Float
    ) {
        var ss: Float = 0
        for i in 0..<n { ss += x[i] * x[i] }
        let inv = 1 / (ss / Float(n) + eps).squareRoot()
        for i in 0..<n { out[i] = x[i] * inv * w[i] }
    }

    /// tanh-approximated GELU (Gemma's hidden_activation "gelu_pytorch_tanh").
    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }

    /// c · tanh(x / c): Gemma 2's logit soft-capping.
    @inline(__always) static func softcap(_ x: Float, _ c: Float) -> Float { c * tanhf(x / c) }

    /// Rotary embedding in the "rotate half" layout (pairs i and i + rotDim/2) on the
    /// first `rotDim` dims of each head (rotDim < headDim is RecurrentGemma's partial RoPE).
    static func rope(
        _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, rotDim: Int, position: Int,
        invFreq: [Float]
    ) {
        let half = rotDim / 2
        for i in 0..<half {
            let angle = Float(Double(position) * Double(invFreq[i]))
            let c = cosf(angle), s = sinf(angle)
            for h in 0..<heads {
                let p = x + h * headDim
                let a = p[i], b = p[i + half]
                p[i] = a * c - b * s
                p[i + half] = b * c + a * s
            }
        }
    }

    static func ropeInverseFrequencies(base: Float, rotDim: Int, scaling: Float = 1) -> [Float] {
        (0..<rotDim / 2).map { Float(1.0 / (pow(Double(base), Double(2 * $0) / Double(rotDim)) * Double(scaling))) }
    }

    /// Numerically stable softmax in place.
    static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        ck_softmax_f32(x, Int64(n))
    }
}
