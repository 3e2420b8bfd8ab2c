import Glibc

/// Storage for large buffers that are read a slice per row, far apart: the KV cache,
/// where decode attention steps from one position's row to the next (kvHeads·headDim·4
/// bytes apart: a new 4 KB page per key at Gemma 2 2B's shapes, so every key read was a
/// TLB miss). Blocks of 2 MB or more are aligned to 2 MB and hinted for transparent huge
/// pages (the kernel's default "madvise" mode gives them only when asked), so one TLB
/// entry covers 512 keys' rows. Where the hint is refused the memory is ordinary pages.
enum HugePageMemory {
    static let hugePageBytes = 2 << 20

    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let huge = byteCount >= hugePageBytes
        let size = huge ? (byteCount + hugePageBytes - 1) / hugePageBytes * hugePageBytes : max(byteCount, 1)
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, huge ? hugePageBytes : 64, size) == 0, let p else {
            fatalError("out of memory allocating \(size) bytes")
        }
        if huge { _ = madvise(p, size, MADV_HUGEPAGE) }
        return p
    }

    static func deallocate(_ p: UnsafeMutableRawPointer) { free(p) }
}
