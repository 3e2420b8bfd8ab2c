import CKernels

/// How the KV cache stores keys and values: float32, or llama.cpp's q8_0 per head row
/// (blocks of 32 values: one fp16 scale and 32 int8, as `-ctk q8_0 -ctv q8_0`). A
/// per-model choice (`RuntimeOptions.kvCache`): attention over a q8_0 cache reads the
/// int8 values directly (CKernels' kv_q8.c), so long contexts hold ~3.8x more in the
/// same memory at the cost of the rounding of one int8 per value.
public enum KVCacheType: String, CaseIterable, Sendable, CustomStringConvertible {
    case f32
    case q8_0

    public var description: String { rawValue }

    /// Bytes one position of one head of `headDim` values takes.
    public func headRowBytes(headDim: Int) -> Int {
        switch self {
        case .f32: return headDim * 4
        case .q8_0: return ck_kv_q8_row_bytes(Int64(headDim))
        }
    }
}
