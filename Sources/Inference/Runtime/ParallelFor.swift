import CKernels

/// Runs `body(i)` for i in 0..<n on the shared compute pool (inline when the pool
/// has one thread or there is one job).
func parallelFor(_ n: Int, _ body: (Int) -> Void) {
    guard n > 1, ComputePool.shared.threads > 1 else { for i in 0..<n { body(i) }; return }
    withoutActuallyEscaping(body) { b in
        let box = ParallelBody(b)
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        ck_pool_run(
            ComputePool.shared.pool,
            { ctx, i, _ in
                Unmanaged<ParallelBody>.fromOpaque(ctx!).takeUnretainedValue().body(Int(i))
            }, ctx, Int32(n))
        _ = box
    }
}

/// The closure handed to the C pool through an opaque pointer.
private final class ParallelBody {
    let body: (Int) -> Void
    init(_ b: @escaping (Int) -> Void) { body = b }
}
