import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Crash-safe replacement of a file: the bytes go to a temporary file in the same
/// directory, are fsynced, renamed over the target (atomic on POSIX file systems), and
/// the directory is fsynced so the rename itself survives a power cut. A reader, or a
/// process killed at any instant, sees the old file or the new one, never a mix.
enum AtomicFile {
    /// Prefix of temporary files, so listings can skip them and clean up ones left by a crash.
    static let tempMarker = ".tmp-"

    static func write(_ data: Data, to url: URL, permissions: mode_t = 0o600) throws {
        let dir = url.deletingLastPathComponent()
        let temp = dir.appendingPathComponent(
            "." + shortened(url.lastPathComponent) + tempMarker + "\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 36))
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw failure("cannot create a file in \(dir.path)") }
        var ok = false
        defer { if !ok { unlink(temp.path) } }
        do {
            defer { _ = close(fd) }
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < raw.count {
                    let n = posixWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw failure("cannot write \(url.path)")
                    }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw failure("cannot write \(url.path)") }
        }
        guard rename(temp.path, url.path) == 0 else { throw failure("cannot replace \(url.path)") }
        ok = true
        syncDirectory(dir)
    }

    /// At most 120 bytes of the target's name, so the temporary name of a long export name
    /// still fits the 255-byte file-name limit.
    static func shortened(_ name: String) -> String {
        var out = "", bytes = 0
        for ch in name {
            bytes += ch.utf8.count
            if bytes > 120 { break }
            out.append(ch)
        }
        return out
    }

    /// Makes a rename or unlink in `dir` durable. Some file systems refuse fsync on a
    /// directory (EINVAL); the rename has still happened, so that is not an error.
    static func syncDirectory(_ dir: URL) {
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// "what failed: strerror(errno)", read before any other call can change errno.
    static func failure(_ what: String) -> SessionError {
        let code = errno
        return SessionError("\(what): \(String(cString: strerror(code)))")
    }
}

/// `write(2)`, spelled per platform.
@inline(__always)
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.write(fd, p, n)
    #else
        return Darwin.write(fd, p, n)
    #endif
}
