import Foundation

/// Saves a conversation that changes many times a second (a streaming reply) at most once
/// per `interval`, and never later than `interval` after the last change: a crash loses at
/// most the last fraction of a second. The latest state always wins.
///
/// `update` saves on the caller's thread when a save is due; otherwise it schedules a
/// trailing save on a background queue, so a stream that pauses is still on disk shortly
/// after its last token. Errors from saves that `update` or the timer make are kept in
/// `lastError` and passed to `onError`; `flush` throws them.
public final class AutoSaver: @unchecked Sendable {
    public let store: SessionStore
    public let interval: TimeInterval
    /// Called (on whichever thread saved) when a background or throttled save fails.
    public var onError: (@Sendable (Error) -> Void)? {
        get { lock.withLock { errorHandler } }
        set { lock.withLock { errorHandler = newValue } }
    }
    /// The error of the most recent save, nil once a save succeeds.
    public var lastError: Error? { lock.withLock { latestError } }

    private let lock = NSLock()
    private let saveLock = NSLock()   // one save at a time, so an older state never lands after a newer one
    private var pending: Conversation?
    private var lastSave = Date.distantPast
    private var trailingScheduled = false
    private var errorHandler: (@Sendable (Error) -> Void)?
    private var latestError: Error?
    private static let queue = DispatchQueue(label: "sparkchat.autosave", qos: .utility)

    public init(store: SessionStore, interval: TimeInterval = 0.3) {
        self.store = store
        self.interval = interval
    }

    /// Records the latest state; saves it now if `interval` has passed since the last save.
    public func update(_ c: Conversation) {
        let due: Bool = lock.withLock {
            pending = c
            if Date().timeIntervalSince(lastSave) >= interval { return true }
            if !trailingScheduled {
                trailingScheduled = true
                let delay = max(0, interval - Date().timeIntervalSince(lastSave))
                AutoSaver.queue.asyncAfter(deadline: .now() + delay) { [weak self] in
                    guard let self else { return }
                    self.lock.withLock { self.trailingScheduled = false }
                    try? self.savePending()
                }
            }
            return false
        }
        if due { try? savePending() }
    }

    /// Saves the latest pending state now (after a reply ends, before quitting).
    public func flush() throws {
        try savePending()
    }

    private func savePending() throws {
        try saveLock.withLock {
            guard let c = lock.withLock({ () -> Conversation? in
                let c = pending
                pending = nil
                if c != nil { lastSave = Date() }
                return c
            }) else { return }
            do {
                try store.save(c)
                lock.withLock { latestError = nil }
            } catch {
                let handler: (@Sendable (Error) -> Void)? = lock.withLock {
                    latestError = error
                    // Keep the state so a later update or flush retries it, unless newer state arrived.
                    if pending == nil { pending = c }
                    return errorHandler
                }
                handler?(error)
                throw error
            }
        }
    }
}
