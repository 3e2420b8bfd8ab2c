import CKernels
import Foundation

/// The FFN of a dense Gemma checkpoint made activation-sparse by a sparkify overlay
/// (SparkifyOverlay; the fit and its reasons are in scripts/spark/sparkify.py):
///
///   ĝ = A (B x)                          the low-rank gate predictor (rank r ≪ d)
///   s = |gelu(ĝ) − γ| ⊙ w,  θ = mean(s) + std(s)·z,  S = {i : sᵢ > θ}
///       w = σ (the typical |u|), or with an exact-up overlay the token's own |up·x|
///   y = Σ_{i∈S} (gelu(gateᵢ·x) − γᵢ)(upᵢ·x) downᵀᵢ  +  M x  [+ A B h]
///       h = (gelu(gate·x) − γ)(up·x) on the dropped neurons, 0 on S: the compensation
///       of a version 4 overlay (DroppedCompensation; exact-up at rank 0 only, where h is known)
///
/// Decode reads only the gate and up rows of S and the down columns of S (rows of a
/// transposed copy made at load), plus A, B and M; an exact-up overlay reads the whole up
/// projection (and at rank 0 the whole gate) for the selection, and only down is sparse
/// (`downIsDense`: or not at all). Prefill computes the same function with dense matrix
/// products and a mask (the FLOPs it reports are decode's). With a block-quantized base,
/// A, B, M and the transposed down are quantized to Q8_0 at load (fewer bytes per token);
/// with a float base they stay float, so the result can be compared with the float
/// reference.
final class SparkifiedFFN {
    struct Layer {
        /// A (F × r), and [B; M] stacked ((r + D) × D): one pass over x gives the
        /// predictor's projection B x and the dropped neurons' sum M x. At rank 0 there
        /// is no A and bm is M: the selection reads the exact gate instead.
        let a: WeightMatrix?, bm: WeightMatrix
        let idle: [Float], upScale: [Float], z: Float
        /// The token's exact |u| weights the score (the whole up projection is read).
        let exactUp: Bool
        /// M is the reference fit's down·diag(γ)·up, so γᵢuᵢ through down can stand in for it.
        let plainDroppedMap: Bool
        /// The down projection (the overlay's distilled one, else the base's) transposed
        /// (F × D): neuron i's column as row i.
        let downT: WeightMatrix
        /// The overlay's distilled down projection (D × F) for prefill; nil: the base's.
        let down: WeightMatrix?
        /// The dropped neurons' compensation A (D × r) and B (r × F); nil: none.
        let compensation: (a: WeightMatrix, b: WeightMatrix)?
        var rank: Int { bm.rows - bm.cols }
        var neurons: Int { idle.count }
    }
    let layers: [Layer]
    /// The overlay's target fraction of active neurons.
    let fraction: Double
    private let storage: [UnsafeMutableRawPointer]
    private let linear = LinearKernel()
    /// The predicted gate and the down gather's per-thread sums.
    private let scratch = ScratchBuffer()
    /// Per-call work (mask, projections, gathered values): decode never allocates.
    private let work = ScratchBuffer()
    private let activation = ScratchBuffer()
    /// The batched selection's contiguous B x rows.
    private let work2 = ScratchBuffer()
    /// The compensation's h, and its B h and A B h.
    private let compensationWork = ScratchBuffer()
    private let compensationProduct = ScratchBuffer()
    private var indices: [Int32] = []
    /// gelu(x) = ck_geglu_f32(x, ones): the vectorised GELU (scalar tanh costs ~20 ns).
    private let ones: [Float]

    /// `downs`: the base model's down projections (D × F), one per layer.
    init(overlay: SparkifyOverlay, config: ModelConfig, downs: [WeightMatrix], quantize: Bool) throws {
        guard downs.count == config.layerCount else { throw EngineError.format("sparkify: base has \(downs.count) FFN layers") }
        ones = [Float](repeating: 1, count: config.intermediateSize)
        var storage: [UnsafeMutableRawPointer] = []
        /// Q8_0 for a quantized base (fewer bytes per token), else F32 (exact).
        func type(_ cols: Int) -> GGMLType { quantize && cols % 32 == 0 ? .q8_0 : .f32 }
        func keep(_ built: (matrix: WeightMatrix, storage: UnsafeMutableRawPointer)) -> WeightMatrix {
            storage.append(built.storage)
            return built.matrix
        }
        let r = overlay.rank, D = config.hiddenSize
        layers = try zip(overlay.layers(for: config), downs).map { o, down in
            let a = o.predictorA.map { pa in keep(WeightMatrix.build(type: type(r), rows: pa.rows, cols: r) { i, out in pa.row(i, into: out) }) }
            let bm = keep(
                WeightMatrix.build(type: type(D), rows: r + D, cols: D) { i, out in
                    i < r ? o.predictorB!.row(i, into: out) : o.droppedMap.row(i - r, into: out)
                })
            // A distilled down is stored float; it runs in the base's kind of precision.
            func copy(_ m: WeightMatrix) -> WeightMatrix {
                keep(WeightMatrix.build(type: type(m.cols), rows: m.rows, cols: m.cols) { i, out in m.row(i, into: out) })
            }
            let distilled = o.down.map(copy)
            return Layer(
                a: a, bm: bm, idle: o.idleActivation, upScale: o.upScale, z: o.thresholdZ, exactUp: overlay.exactUp,
                plainDroppedMap: !overlay.droppedMapRefitted,
                downT: keep((o.down ?? down).transposedCopy(as: type(D))), down: distilled,
                compensation: o.compensation.map { (a: copy($0.a), b: copy($0.b)) })
        }
        self.storage = storage
        fraction = overlay.fraction
    }

    deinit { storage.forEach { $0.deallocate() } }

    /// The owning model's `RuntimeOptions.sgemmMinimumRows`, for the prefill products.
    var sgemmMinimumRows: Int {
        get { linear.sgemmMinimumRows }
        set { linear.sgemmMinimumRows = newValue }
    }

    /// Whether decode runs the layer's down projection whole: an exact-up layer at rank 0
    /// without a distilled down or a refitted M knows every neuron's u, so the dropped
    /// neurons' part γᵢuᵢ can go through the base down projection itself, y = W_down h' with
    /// h'ᵢ = gelu(gᵢ)uᵢ on S and γᵢuᵢ off it (the same function when M = W_down diag(γ)
    /// W_up, without reading M). Reading all of W_down with the int8
    /// dot kernels costs less than gathering the active columns one axpy at a time once
    /// more than about a quarter of the neurons are active (Gemma 3 270M, one thread: the
    /// gather of 53% took 187 µs per layer; the whole down projection and M ~90 µs).
    func downIsDense(layer li: Int, active: Int) -> Bool {
        let l = layers[li]
        return l.exactUp && l.a == nil && l.down == nil && l.plainDroppedMap && active * 4 > l.neurons
    }

    /// What decode reads in one layer for a token with `active` neurons: how many gate,
    /// up and down rows (down as rows of its transpose), and whether the predictor and M
    /// (the [B; M] stack and A) are read. The one description `decodeBytes` and `flops`
    /// both count.
    struct Reads {
        let gateRows: Int, upRows: Int, downRows: Int
        let predictorAndDroppedMap: Bool
    }

    func reads(layer li: Int, active: Int) -> Reads {
        let l = layers[li], F = l.neurons
        if downIsDense(layer: li, active: active) {
            return Reads(gateRows: F, upRows: F, downRows: F, predictorAndDroppedMap: false)
        }
        // The exact gate (rank 0) and the exact up (exact-up score) are read whole for the
        // selection; the rest only for the active neurons.
        return Reads(
            gateRows: l.a == nil ? F : active, upRows: l.exactUp ? F : active, downRows: active,
            predictorAndDroppedMap: true)
    }

    /// Weight bytes one decoded token reads in layer `li` at the overlay's target fraction
    /// (the active count varies per token around it).
    func decodeBytes(layer li: Int, gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix) -> Int {
        let l = layers[li], active = Int((fraction * Double(l.neurons)).rounded())
        let r = reads(layer: li, active: active)
        // The whole-down path reads the base's down projection; the gather, rows of the copy.
        let downBytes = r.predictorAndDroppedMap ? l.downT.rowBytes * r.downRows : down.byteCount
        return gate.rowBytes * r.gateRows + up.rowBytes * r.upRows + downBytes
            + (r.predictorAndDroppedMap ? l.bm.byteCount + (l.a?.byteCount ?? 0) : 0)
            + (l.compensation.map { $0.a.byteCount + $0.b.byteCount } ?? 0)  // on either path
    }

    /// FLOPs of one token in one layer with `active` neurons (2 × multiply-adds), as decode
    /// computes it.
    func flops(layer li: Int, active: Int, hidden D: Int) -> Double {
        let l = layers[li], r = reads(layer: li, active: active)
        let predictor = r.predictorAndDroppedMap ? l.bm.rows * l.bm.cols + (l.a.map { $0.rows * $0.cols } ?? 0) : 0
        let compensation = l.compensation.map { $0.a.rows * $0.a.cols + $0.b.rows * $0.b.cols } ?? 0  // on either path
        return Double(2 * (predictor + compensation + D * (r.gateRows + r.upRows + r.downRows)))
    }

    /// [B x; M x] for `T` inputs (T × (r + D)), one input at a time: the int8 path for
    /// every T, so prefill picks exactly the neurons decode would (sgemm's rounding
    /// could flip a neuron at the threshold).
    private func project(_ l: Layer, _ x: UnsafePointer<Float>, _ T: Int, into out: UnsafeMutablePointer<Float>) {
        if batchedSelection {
            linear.apply(l.bm, x, T, out)
            return
        }
        for t in 0..<T { linear.apply(l.bm, x + t * l.bm.cols, 1, out + t * l.bm.rows) }
    }

    /// Prefill selects through batched products (sgemm) instead of decode's per-input
    /// int8 path: several times faster, but a neuron at the threshold may flip. Only the
    /// sparkify fit sets it (SparkifyFitter.withSparseFFN), where that does not matter.
    var batchedSelection = false

    /// The active set of `T` inputs: mask[t·F + i] = 1 where neuron i is computed. The
    /// gate is predicted from the projections (`project`), or at rank 0 copied from
    /// `exactGate` (T × F); `exactUp` (T × F, given for an exact-up overlay only) weights
    /// the score in place of σ.
    /// Returns the active count per input.
    private func select(
        _ l: Layer, projected: UnsafePointer<Float>, exactGate: UnsafePointer<Float>?,
        exactUp: UnsafePointer<Float>?, _ T: Int, mask: UnsafeMutablePointer<Float>
    ) -> [Int] {
        let F = l.neurons, width = l.bm.rows
        let predicted = scratch.floats(T * F)
        if let a = l.a, batchedSelection {
            let r = l.rank, bx = work2.floats(T * r)
            for t in 0..<T { (bx + t * r).update(from: projected + t * width, count: r) }
            linear.apply(a, bx, T, predicted)
        } else if let a = l.a {
            for t in 0..<T { linear.apply(a, projected + t * width, 1, predicted + t * F) }
        } else {
            predicted.update(from: exactGate!, count: T * F)
        }
        var counts = [Int](repeating: 0, count: T)
        l.idle.withUnsafeBufferPointer { idle in
            l.upScale.withUnsafeBufferPointer { scale in
                for t in 0..<T {
                    let s = predicted + t * F
                    ck_geglu_f32(s, ones, Int64(F))
                    if let u = exactUp.map({ $0 + t * F }) {
                        for i in 0..<F { s[i] = abs(s[i] - idle[i]) * abs(u[i]) }
                    } else {
                        for i in 0..<F { s[i] = abs(s[i] - idle[i]) * scale[i] }
                    }
                    let theta = StatisticalTopK.threshold(s, F, z: Double(l.z))
                    var n = 0
                    for i in 0..<F {
                        let keep = s[i] > theta
                        mask[t * F + i] = keep ? 1 : 0
                        n += keep ? 1 : 0
                    }
                    counts[t] = n
                }
            }
        }
        return counts
    }

    /// Prefill: `gate` and `up` hold the dense gate·x and up·x (T × F); on return `gate`
    /// holds the masked, idle-shifted activations and `out` (T × D) the layer's output.
    func runBatch(
        layer li: Int, x: UnsafePointer<Float>, _ T: Int, gate: UnsafeMutablePointer<Float>,
        up: UnsafePointer<Float>, down: WeightMatrix, out: UnsafeMutablePointer<Float>
    ) -> [Int] {
        let l = layers[li], F = l.neurons, D = down.rows, r = l.rank, width = l.bm.rows
        let mask = work.floats(T * (F + width)), projected = mask + T * F
        project(l, x, T, into: projected)
        let counts = select(l, projected: projected, exactGate: gate, exactUp: l.exactUp ? up : nil, T, mask: mask)
        ck_geglu_f32(gate, up, Int64(T * F))
        // The compensation's h, taken before the dropped neurons' values are zeroed.
        let dropped = l.compensation.map { c in (matrices: c, h: compensationInput(l, gated: gate, up: up, mask: mask, T)) }
        for t in 0..<T {
            for i in 0..<F {
                let j = t * F + i
                gate[j] = mask[j] != 0 ? gate[j] - l.idle[i] * up[j] : 0
            }
        }
        linear.apply(l.down ?? down, gate, T, out)
        if let dropped { addCompensation(dropped.matrices, dropped.h, T, to: out) }
        for t in 0..<T {
            let mx = projected + t * width + r
            for j in 0..<D { out[t * D + j] += mx[j] }
        }
        return counts
    }

    /// The compensation's h of `T` inputs (T × F) from gelu(g)·u (`gated`) and u of every
    /// neuron: (gelu(gᵢ) − γᵢ)uᵢ where neuron i is dropped, 0 where it is kept.
    private func compensationInput(
        _ l: Layer, gated: UnsafePointer<Float>, up: UnsafePointer<Float>, mask: UnsafePointer<Float>, _ T: Int
    ) -> UnsafeMutablePointer<Float> {
        let F = l.neurons, h = compensationWork.floats(T * F)
        for j in 0..<(T * F) { h[j] = mask[j] != 0 ? 0 : gated[j] - l.idle[j % F] * up[j] }
        return h
    }

    /// out (T × D) += A (B h) for the dropped neurons' values h (T × F).
    private func addCompensation(
        _ c: (a: WeightMatrix, b: WeightMatrix), _ h: UnsafePointer<Float>, _ T: Int, to out: UnsafeMutablePointer<Float>
    ) {
        let r = c.b.rows, D = c.a.rows
        let bh = compensationProduct.floats(T * (r + D)), ah = bh + T * r
        linear.apply(c.b, h, T, bh)
        linear.apply(c.a, bh, T, ah)
        for j in 0..<(T * D) { out[j] += ah[j] }
    }

    /// Decode: one input, only the active rows read (the down columns as rows of the
    /// transposed copy, Q8_0 for a quantized base). Returns the active count.
    func runToken(
        layer li: Int, x: UnsafePointer<Float>, gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix,
        out: UnsafeMutablePointer<Float>
    ) -> Int {
        let l = layers[li], F = l.neurons, downT = l.downT, D = downT.cols, r = l.rank
        var timer = SectionTimer()
        let mask = work.floats(5 * F + l.bm.rows), values = mask + F, projected = values + 4 * F
        // [B x; M x]: B x for the predictor's selection; at rank 0 only M x, which the
        // whole-down path does not need, so it waits until the path is known.
        if l.a != nil { project(l, x, 1, into: projected) }
        // Rank 0: the whole gate, streamed (its values of S are then not read again); an
        // exact-up overlay: the whole up, too (one quantized x for both).
        let fullGate: UnsafeMutablePointer<Float>? = l.a == nil ? values + 2 * F : nil
        let fullUp: UnsafeMutablePointer<Float>? = l.exactUp ? values + 3 * F : nil
        switch (fullGate, fullUp) {
        case (let fg?, let fu?): linear.apply([gate, up], x, 1, [fg, fu])
        case (let fg?, nil): linear.apply(gate, x, 1, fg)
        case (nil, let fu?): linear.apply(up, x, 1, fu)
        case (nil, nil): break
        }
        let n = select(l, projected: projected, exactGate: fullGate, exactUp: fullUp, 1, mask: mask)[0]
        timer.lap(.ffnSelection)
        if let fg = fullGate, let fu = fullUp, downIsDense(layer: li, active: n) {
            let h = values
            h.update(from: fg, count: F)
            ck_geglu_f32(h, fu, Int64(F))
            let dropped = l.compensation.map { c in (matrices: c, h: compensationInput(l, gated: h, up: fu, mask: mask, 1)) }
            for i in 0..<F where mask[i] == 0 { h[i] = l.idle[i] * fu[i] }
            linear.apply(down, h, 1, out)
            if let dropped { addCompensation(dropped.matrices, dropped.h, 1, to: out) }
            timer.lap(.ffnActiveDown)
            return n
        }
        if l.a == nil { project(l, x, 1, into: projected) }
        indices.removeAll(keepingCapacity: true)
        for i in 0..<F where mask[i] != 0 { indices.append(Int32(i)) }
        let g = values, u = values + F
        if n > 0 {
            indices.withUnsafeBufferPointer { ip in
                if let fg = fullGate, let fu = fullUp {
                    for k in 0..<n { g[k] = fg[Int(ip[k])]; u[k] = fu[Int(ip[k])] }
                } else if let fg = fullGate {
                    for k in 0..<n { g[k] = fg[Int(ip[k])] }
                    linear.applyRows(up, x, rows: ip.baseAddress!, count: n, u)
                } else if let fu = fullUp {
                    for k in 0..<n { u[k] = fu[Int(ip[k])] }
                    linear.applyRows(gate, x, rows: ip.baseAddress!, count: n, g)
                } else if gate.type == up.type, gate.rowBytes == up.rowBytes, gate.cols == up.cols {
                    // Gate and up rows of a neuron in one pass, against one quantized x.
                    let a = activation.ensure(gate.activationBytes)
                    ck_quantize_activation(gate.ckType, x, a, Int64(gate.cols))
                    ck_matvec_rows2_par(
                        ComputePool.shared.pool, gate.ckType, gate.data, up.data, gate.rowBytes,
                        Int64(gate.cols), a, ip.baseAddress!, Int64(n), g, u)
                } else {
                    linear.applyRows(gate, x, rows: ip.baseAddress!, count: n, g)
                    linear.applyRows(up, x, rows: ip.baseAddress!, count: n, u)
                }
                timer.lap(.ffnActiveGateUp)
                ck_geglu_f32(g, u, Int64(n))
                for k in 0..<n { g[k] -= l.idle[Int(ip[k])] * u[k] }
                let s = scratch.floats(ComputePool.shared.threads * D)
                ck_axpy_rows_par(
                    ComputePool.shared.pool, Int32(downT.type.rawValue), downT.data, downT.rowBytes, Int64(D),
                    ip.baseAddress!, g, Int64(n), out, s)
            }
        } else {
            out.initialize(repeating: 0, count: D)
        }
        let mx = projected + r
        for j in 0..<D { out[j] += mx[j] }
        if let c = l.compensation, let fg = fullGate, let fu = fullUp {
            // Only an exact-up overlay at rank 0 has one (SparkifyOverlay): every g and u is known.
            let gated = values  // the gathered g and u are spent by now
            gated.update(from: fg, count: F)
            ck_geglu_f32(gated, fu, Int64(F))
            addCompensation(c, compensationInput(l, gated: gated, up: fu, mask: mask, 1), 1, to: out)
        }
        timer.lap(.ffnActiveDown)
        return n
    }
}
