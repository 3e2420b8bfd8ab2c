import CKernels
import Foundation

/// Which tensors pruning touches and how a zero is stored in each type.
///
/// Pruned weights must read back as exactly 0. Types whose code book has an exact zero
/// are pruned in place: only the pruned weights' codes change, every other byte stays
/// (F32, F16, BF16: the value; Q8_0: q = 0; Q4_0: q = 8; Q5_0: q = 16; Q6_K: q = 32).
/// Types with a per-block minimum (Q4_1, Q5_1, Q4_K, Q5_K: value = d·q − m) cannot
/// hold an exact zero next to other values, so re-quantizing to them would undo the
/// pruning: those matrices are re-encoded as Q8_0 (zero exact, ~2x the bytes of Q4_K).
public enum PrunedStorage {
    /// The transformer layer matrices: attention q/k/v/o and FFN gate/up/down, by
    /// llama.cpp's GGUF names. Embedding, tied LM head and norms stay dense.
    static let layerMatrixSuffixes = [
        "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
        "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"
    ]

    /// The layer index of a prunable tensor (`blk.N.<matrix>.weight`, two dimensions), else nil.
    public static func layerIndex(of t: GGUFTensorInfo) -> Int? {
        guard t.dims.count == 2 else { return nil }
        let parts = t.name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let i = Int(parts[1]), i >= 0,
            layerMatrixSuffixes.contains(parts[2])
        else { return nil }
        return i
    }

    /// The type a pruned matrix of `type` is stored in.
    public static func storedType(for type: GGMLType) throws -> GGMLType {
        switch type {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q5_0, .q6_K: return type
        case .q4_1, .q5_1, .q4_K, .q5_K: return .q8_0
        default: throw EngineError.unsupported("pruning \(type.name) matrices (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)")
        }
    }

    /// Sets element `e` of a row stored in place (`storedType(for: type) == type`) to
    /// the type's exact zero code, touching no other element's bits.
    static func zero(_ type: GGMLType, row: UnsafeMutableRawPointer, element e: Int) {
        let block = row + (e / type.blockSize) * type.typeSize
        let j = e % type.blockSize
        let b = block.assumingMemoryBound(to: UInt8.self)
        switch type {
        case .f32: (block).storeBytes(of: 0, as: UInt32.self)
        case .f16, .bf16: (block).storeBytes(of: 0, as: UInt16.self)
        case .q8_0: b[2 + j] = 0  // d, then 32 int8 codes
        case .q4_0:  // d, then 16 bytes: element j in the low nibble of byte j, j+16 in the high one; value (q − 8)·d
            if j < 16 { b[2 + j] = (b[2 + j] & 0xF0) | 0x08 } else { b[2 + j - 16] = (b[2 + j - 16] & 0x0F) | 0x80 }
        case .q5_0:  // d, 4 bytes of fifth bits (bit j for element j), 16 bytes of nibbles; value (q − 16)·d
            b[2 + j / 8] |= UInt8(1 << (j % 8))
            if j < 16 { b[6 + j] &= 0xF0 } else { b[6 + j - 16] &= 0x0F }
        case .q6_K:
            // ql[128], qh[64], scales[16], d. Element 128h + 32k + l: low 4 bits in the
            // (k < 2 ? low : high) nibble of ql[64h + 32(k & 1) + l], high 2 bits at
            // bit 2k of qh[32h + l]; value d·scale·(q − 32).
            let h = j / 128, k = (j % 128) / 32, l = j % 32
            let ql = 64 * h + 32 * (k & 1) + l
            b[ql] &= k < 2 ? 0xF0 : 0x0F
            let qh = 128 + 32 * h + l
            b[qh] = (b[qh] & ~UInt8(3 << (2 * k))) | UInt8(2 << (2 * k))
        default: preconditionFailure("\(type.name) is not pruned in place")
        }
    }

    /// Stores `rows` × `cols` values (the original, `zeroMask` marking pruned ones) as
    /// `storedType(for: source.type)`: in place from the source bytes, or as Q8_0. Then
    /// reads the result back and checks that exactly the pruned weights are zero and,
    /// in place, that every other weight kept its value bit for bit.
    static func encode(_ source: WeightMatrix, name: String, values: [Float], zeroMask: [Bool]) throws -> (bytes: [UInt8], zeros: Int) {
        let type = try storedType(for: source.type)
        let rows = source.rows, cols = source.cols
        let rowBytes = type.rowBytes(cols)!
        var out = [UInt8](repeating: 0, count: rows * rowBytes)
        out.withUnsafeMutableBytes { o in
            if type == source.type {
                o.baseAddress!.copyMemory(from: source.data, byteCount: rows * rowBytes)
                for r in 0..<rows {
                    let row = o.baseAddress! + r * rowBytes
                    for c in 0..<cols where zeroMask[r * cols + c] { zero(type, row: row, element: c) }
                }
            } else {
                var masked = [Float](repeating: 0, count: cols)
                for r in 0..<rows {
                    for c in 0..<cols { masked[c] = zeroMask[r * cols + c] ? 0 : values[r * cols + c] }
                    ck_quantize_q8_0(masked, o.baseAddress! + r * rowBytes, Int64(cols))
                }
            }
        }
        var back = [Float](repeating: 0, count: cols)
        var zeros = 0
        try out.withUnsafeBytes { o in
            let m = WeightMatrix(type: type, rows: rows, cols: cols, data: o.baseAddress!)
            for r in 0..<rows {
                back.withUnsafeMutableBufferPointer { m.row(r, into: $0.baseAddress!) }
                for c in 0..<cols {
                    let i = r * cols + c
                    if back[c] == 0 { zeros += 1 }
                    let ok = zeroMask[i] ? back[c] == 0 : (type != source.type || back[c].bitPattern == values[i].bitPattern)
                    guard ok else {
                        throw EngineError.format("tensor \(name): weight [\(r), \(c)] does not read back as pruned (a non-finite scale in its block?)")
                    }
                }
            }
        }
        return (out, zeros)
    }

    /// All weights of a matrix as floats, row after row.
    static func dequantize(_ m: WeightMatrix) -> [Float] {
        var values = [Float](repeating: 0, count: m.rows * m.cols)
        values.withUnsafeMutableBufferPointer { p in for r in 0..<m.rows { m.row(r, into: p.baseAddress! + r * m.cols) } }
        return values
    }
}
