import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a file that might be hostile: only a regular file (not a FIFO that would block,
/// nor a symlink to /dev/zero that never ends), and at most `limit` bytes.
enum BoundedFileRead {
    enum Failure: Error {
        case missing
        /// The file cannot be opened or read (permissions, I/O error): leave it alone.
        case unreadable(String)
        /// The file is there but cannot be a session (not regular, too large): move it aside.
        case unusable(String)
    }

    static func read(_ path: String, limit: Int) throws -> Data {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw Failure.missing }
            throw Failure.unreadable(String(cString: strerror(code)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure.unreadable(String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw Failure.unusable("not a regular file") }
        guard st.st_size <= limit else { throw Failure.unusable("too large (\(st.st_size) bytes)") }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure.unreadable(String(cString: strerror(errno)))
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
            // The file grew after fstat (being replaced is fine: a rename swaps inodes, not this one).
            if data.count > limit { throw Failure.unusable("too large (over \(limit) bytes)") }
        }
    }
}
