import CKernels
import COpenBLAS
import Foundation

/// The process-wide worker pool used by every kernel call, and OpenBLAS's thread
/// count kept equal to it so the two never oversubscribe the cores.
public final class ComputePool: @unchecked Sendable {
    public static let shared = ComputePool()
    private let lock = NSLock()
    private(set) var pool: OpaquePointer?
    public private(set) var threads: Int = 0

    private init() { setThreads(ComputePool.defaultThreads) }

    /// Physical cores are not visible portably; the online CPU count is what we get.
    public static var defaultThreads: Int {
        if let s = ProcessInfo.processInfo.environment["SPARKCHAT_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    public func setThreads(_ n: Int) {
        lock.lock(); defer { lock.unlock() }
        let n = max(1, min(n, 256))
        if n == threads, pool != nil { return }
        if let p = pool { ck_pool_destroy(p) }
        pool = ck_pool_create(Int32(n))
        threads = n
        openblas_set_num_threads(Int32(n))
    }

    /// Measured memory read bandwidth in bytes/s with the pool's threads (best of a few
    /// passes over a buffer far larger than the caches).
    public func measureReadBandwidth(bytes: Int = 512 << 20, repetitions: Int = 5) -> Double {
        lock.lock(); defer { lock.unlock() }
        return ck_measure_read_bandwidth(pool, bytes, Int32(repetitions))
    }
}
