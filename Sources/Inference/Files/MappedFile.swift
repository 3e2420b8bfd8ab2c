import Foundation

/// A read-only memory map of a whole file. Model weights are read straight from the
/// map in their stored (quantized) form, so loading a model costs no RAM beyond what
/// the page cache already holds.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let count: Int

    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO named like a model would otherwise wait for a writer
        // forever; the regular-file check below then rejects it. No effect on regular files.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw EngineError.file("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw EngineError.file("cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw EngineError.file("\(path) is not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else { throw EngineError.file("\(path) is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw EngineError.file("cannot map \(path): \(String(cString: strerror(errno)))")
        }
        self.base = UnsafeRawPointer(p)
        self.count = size
    }

    /// A private anonymous map holding a copy of `bytes`, so in-memory files (tests,
    /// the fuzzer) go through exactly the same parsing code as files on disk.
    public init(copying bytes: UnsafeRawBufferPointer, path: String = "<memory>") throws {
        self.path = path
        guard bytes.count > 0 else { throw EngineError.file("\(path) is empty") }
        guard let p = mmap(nil, bytes.count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw EngineError.file("cannot map \(bytes.count) bytes: \(String(cString: strerror(errno)))")
        }
        p.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        mprotect(p, bytes.count, PROT_READ)
        self.base = UnsafeRawPointer(p)
        self.count = bytes.count
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), count) }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
