import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An advisory `flock` on `<id>.lock` beside a session file, held by the one chat window
/// that may write the session. Two windows on one session would otherwise both rewrite
/// the file and the last writer would silently drop the other's turns.
///
/// The kernel releases a flock when its file description closes, so a crashed or killed
/// window never leaves a session locked. flock belongs to the open file description, not
/// the process: a second `SessionLock` on the same id in the same process is refused too.
/// The lock file itself is left in place (unlinking it would let two processes lock two
/// different inodes of the same name).
public final class SessionLock: @unchecked Sendable {
    public let url: URL
    private var fd: Int32

    /// Takes the lock without waiting; nil when another window holds it.
    /// Throws when the lock file cannot be opened at all (e.g. a read-only directory).
    public static func acquire(_ url: URL) throws -> SessionLock? {
        let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw AtomicFile.failure("cannot open the lock file \(url.path)") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            errno = code
            throw AtomicFile.failure("cannot lock \(url.path)")
        }
        return SessionLock(url: url, fd: fd)
    }

    /// True when some other open of `url` holds the lock right now (checked by trying it).
    /// A lock file that cannot be opened counts as free: nothing can hold it.
    public static func isHeld(_ url: URL) -> Bool {
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        do { return try acquire(url) == nil } catch { return false }
    }

    private init(url: URL, fd: Int32) {
        self.url = url
        self.fd = fd
    }

    /// Releases the lock (also done when the lock is dropped, and by the kernel on exit).
    public func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    deinit { release() }
}
