import CKernels
import Foundation

/// The GeGLU FFN of a dense Gemma checkpoint run with statistical top-k on its gate,
/// reading only the bytes of active neurons:
///   g = gate·x (dense: the gate is the predictor), θ = mean(g) + std(g)·Φ⁻¹(1−f),
///   A = {i : gᵢ > θ},  hᵢ = gelu(gᵢ − θ) · (upᵢ·x) for i ∈ A,  y = Σ_{i∈A} hᵢ · downᵀᵢ.
/// The up rows are gathered in place; the down projection's columns are read as rows
/// of a transposed copy (F16, built once per layer on first use: 2.6 MB per layer for
/// Gemma 3 270M), since GGUF stores down as [hidden × ffn] rows and a neuron's column
/// is strided there. F16 keeps the copy within ~1e-3 of the file's dequantized values;
/// a Q8_0 copy halves the bytes but its rounding moved logits by up to 2.5.
final class ActiveNeuronFFN {
    private var transposedDown: [Int: (matrix: WeightMatrix, storage: UnsafeMutableRawPointer)] = [:]
    private let lock = NSLock()
    private let linear = LinearKernel()
    private var indices: [Int32] = []
    private var coefficients: [Float] = []
    private var upValues: [Float] = []
    private let scratch = ScratchBuffer()

    deinit { for (_, v) in transposedDown { v.storage.deallocate() } }

    /// Can a down projection of this many rows (the hidden width) be kept transposed?
    /// (Whether to gather at all is the model's `RuntimeOptions.gatherActiveNeurons`.)
    static func supports(hiddenSize: Int) -> Bool { hiddenSize <= 8192 }

    func downTransposed(layer: Int, _ down: WeightMatrix) -> WeightMatrix {
        lock.lock(); defer { lock.unlock() }
        if let t = transposedDown[layer] { return t.matrix }
        let (m, storage) = down.transposedCopy(as: .f16)
        transposedDown[layer] = (m, storage)
        return m
    }

    /// One token: `gate` holds gate·x (F values, overwritten), `x` the normed input,
    /// `out` receives D values. Returns the number of active neurons.
    func run(
        layer: Int, gate: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, up: WeightMatrix,
        down: WeightMatrix, fraction: Double, out: UnsafeMutablePointer<Float>
    ) -> Int {
        let F = up.rows, D = down.rows
        let theta = StatisticalTopK.threshold(gate, F, fraction: fraction)
        indices.removeAll(keepingCapacity: true)
        coefficients.removeAll(keepingCapacity: true)
        for i in 0..<F where gate[i] > theta {
            indices.append(Int32(i))
            // Hard mask (gelu of the unshifted value): this model was not trained with
            // Spark's soft threshold, and shifting by θ wrecks it (ppl 12 → 10⁹ at f = 0.9).
            coefficients.append(Layers.geluTanh(gate[i]))
        }
        let n = indices.count
        guard n > 0 else { out.initialize(repeating: 0, count: D); return 0 }
        if upValues.count < n { upValues = [Float](repeating: 0, count: F) }
        indices.withUnsafeBufferPointer { ip in
            upValues.withUnsafeMutableBufferPointer { up2 in
                linear.applyRows(up, x, rows: ip.baseAddress!, count: n, up2.baseAddress!)
            }
        }
        for i in 0..<n { coefficients[i] *= upValues[i] }
        let downT = downTransposed(layer: layer, down)
        let threads = ComputePool.shared.threads
        let s = scratch.floats(threads * D)
        indices.withUnsafeBufferPointer { ip in
            coefficients.withUnsafeBufferPointer { cp in
                ck_axpy_rows_par(
                    ComputePool.shared.pool, Int32(downT.type.rawValue), downT.data, downT.rowBytes, Int64(D),
                    ip.baseAddress!, cp.baseAddress!, Int64(n), out, s)
            }
        }
        return n
    }
}
