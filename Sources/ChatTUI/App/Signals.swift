import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM, SIGHUP and SIGINT ask the chat to leave the way /quit does (the reply in
/// progress is kept and saved, the terminal restored) instead of dying mid-screen.
/// The handler only sets a flag; the event loop, woken by the interrupted poll, reads it.
enum Signals {
    nonisolated(unsafe) private static var requested: sig_atomic_t = 0

    static func install() {
        for s in [SIGTERM, SIGHUP, SIGINT] {
            signal(s) { _ in Signals.requested = 1 }
        }
        signal(SIGPIPE, SIG_IGN)
    }

    static var quitRequested: Bool { requested != 0 }
}
