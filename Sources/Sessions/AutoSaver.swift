import Foundation

/// Saves a conversation that changes many times a second (a streaming reply) at most once
/// per `interval`, and never later than `interval` after the last change: a crash loses at
/// most the last fraction of a second. The latest state always wins.
///
/// `update` never blocks on the disk: it records the state and schedules one save on a
/// background queue (at once if the last save is `interval` old, else when it will be), so
/// the UI thread keeps serving keys while a slow disk fsyncs. `flush` saves synchronously
/// and returns only when everything handed to `update` before it is on disk. A failed
/// save keeps its state pending (retried by the next update or flush); its error is in
/// `lastError`, passed to `onError`, and thrown by `flush`.
public final class AutoSaver: @unchecked Sendable {
    public let store: SessionStore
    public let interval: TimeInterval
    /// Called (on the saving thread) when a save fails.
    public var onError: (@Sendable (Error) -> Void)? {
        get { lock.withLock { errorHandler } }
        set { lock.withLock { errorHandler = newValue } }
    }
    /// The error of the most recent save, nil once a save succeeds.
    public var lastError: Error? { lock.withLock { latestError } }

    private let lock = NSLock()
    private let saveLock = NSLock()  // one save at a time, so an older state never lands after a newer one
    private var pending: Conversation?
    private var lastSave = Date.distantPast
    private var saveScheduled = false
    private var errorHandler: (@Sendable (Error) -> Void)?
    private var latestError: Error?
    private static let queue = DispatchQueue(label: "sparkchat.autosave", qos: .utility)

    public init(store: SessionStore, interval: TimeInterval = 0.3) {
        self.store = store
        self.interval = interval
    }

    /// A saver dropped with unsaved state writes it first.
    deinit {
        try? savePending()
    }

    /// Records the latest state and makes sure a save of it is scheduled.
    public func update(_ c: Conversation) {
        lock.withLock {
            pending = c
            guard !saveScheduled else { return }
            saveScheduled = true
            let wait = max(0, interval - Date().timeIntervalSince(lastSave))
            AutoSaver.queue.asyncAfter(deadline: .now() + wait) { [weak self] in
                guard let self else { return }
                self.lock.withLock { self.saveScheduled = false }
                try? self.savePending()
            }
        }
    }

    /// Saves the latest pending state now (after a reply ends, before quitting). Waits for
    /// a background save in progress, so on return every earlier update is on disk.
    public func flush() throws {
        try savePending()
    }

    private func savePending() throws {
        try saveLock.withLock {
            guard
                let c = lock.withLock({ () -> Conversation? in
                    defer { pending = nil }
                    if pending != nil { lastSave = Date() }
                    return pending
                })
            else { return }
            do {
                try store.save(c)
                lock.withLock { latestError = nil }
            } catch {
                let handler: (@Sendable (Error) -> Void)? = lock.withLock {
                    latestError = error
                    if pending == nil { pending = c }  // retry later, unless newer state arrived
                    return errorHandler
                }
                handler?(error)
                throw error
            }
        }
    }
}
