import CKernels

/// Which of the C kernels' variants this process runs: what the CPU has, lowered by
/// SPARKCHAT_CPU_LEVEL when set. Benchmarks print it so a number says which path it timed.
public enum KernelLevel {
    /// "scalar", "avx2", "avx512" or "avx512-vnni".
    public static var name: String {
        switch ck_cpu_level() {
        case 0: return "scalar"
        case 1: return "avx2"
        default: return ck_has_vnni() != 0 ? "avx512-vnni" : "avx512"
        }
    }
}
