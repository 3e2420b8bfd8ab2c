import CKernels
import Foundation

/// How a model instance runs its arithmetic: per model, never process-wide, so a
/// perplexity run, a server and a chat can each set their own without racing (the
/// role of gemma.cpp's RuntimeConfig). None changes what is computed, only the kernels
/// that compute it, and so the rounding.
public struct RuntimeOptions: Sendable, Equatable {
    /// Products of at least this many rows dequantize weight tiles and call sgemm; below
    /// it the quantized kernels read each weight row once for all rows. Dequantizing
    /// costs a write of 4 bytes per weight whatever the row count, so short batches (chat
    /// turns, speculative verification of up to 13 positions over the 262k-row head) stay
    /// quantized. Where the crossover lies depends on the CPU: on an AVX2 machine a
    /// 17-token prefill ran at 150 tok/s through sgemm and 180 quantized, a 64-token one
    /// at 350 vs 180 (before the eight-activation kernels); on an AVX-512 AMD EPYC with
    /// VNNI (Gemma 3 270M, 2 threads) the quantized path ran 630 / 660 / 598 / 549 tok/s at
    /// 64 / 128 / 256 / 512 tokens and sgemm 303 / 435 / 520 / 548, so there sgemm waits
    /// for 512 rows. Without VNNI (the same EPYC with its kernels capped at AVX2 by
    /// SPARKCHAT_CPU_LEVEL=1 and OpenBLAS's Haswell sgemm, three alternating rounds) the
    /// eight-activation AVX2 kernels ran 64 / 96 tokens at ~595 / 545-655 tok/s against
    /// sgemm's ~390 / 430-500, tied at 128 and lost from 192 on, so sgemm starts at 128
    /// rows there. SPARKCHAT_SGEMM_THRESHOLD sets the default (for measuring the
    /// crossover on a machine).
    public var sgemmMinimumRows: Int = RuntimeOptions.environmentSgemmMinimum ?? RuntimeOptions.machineSgemmMinimum

    /// 512 rows where the small-batch kernels run on VNNI, else 128.
    static let machineSgemmMinimum = ck_has_vnni() != 0 ? 512 : 128

    /// Chunks of at least this many tokens run attention as two sgemms per head (prefill);
    /// shorter ones use the per-query dot/axpy loop that decode uses.
    public var batchedAttentionMinimum = 32
    /// Decode with statistical top-k reads only the active neurons' up rows and down
    /// columns. Off runs the dense masked path (same mask, every byte read): for comparison.
    public var gatherActiveNeurons = true
    /// How new states store keys and values (float32, or q8_0 at ~1/3.8 of the bytes):
    /// the one option here that changes what is computed, by the int8 rounding of the
    /// cache. Set it through `LoadedModel.useKVCache`, which refuses a model that has no
    /// q8_0 attention.
    public var kvCache: KVCacheType = .f32

    public init() {}

    /// These options with every product and attention as decode computes them (int8
    /// activations, the per-query attention loop), whatever the chunk length.
    public var decodeArithmetic: RuntimeOptions {
        var o = self
        o.sgemmMinimumRows = .max
        o.batchedAttentionMinimum = .max
        return o
    }

    private static let environmentSgemmMinimum: Int? = {
        guard let s = ProcessInfo.processInfo.environment["SPARKCHAT_SGEMM_THRESHOLD"], let n = Int(s), n >= 1 else { return nil }
        return n
    }()
}
