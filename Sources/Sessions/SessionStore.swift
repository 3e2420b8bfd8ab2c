import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `sessions list` shows for one conversation.
public struct SessionSummary: Sendable, Equatable {
    public var id: String
    public var title: String
    public var created: Date
    public var updated: Date
    public var messageCount: Int
    public var model: String?

    public init(id: String, title: String, created: Date, updated: Date, messageCount: Int, model: String?) {
        (self.id, self.title, self.created, self.updated, self.messageCount, self.model) =
            (id, title, created, updated, messageCount, model)
    }

    init(_ c: Conversation) {
        self.init(
            id: c.id, title: c.title, created: c.created, updated: c.updated, messageCount: c.messages.count,
            model: c.displayModel)
    }
}

/// A directory of `<id>.json` files, one per conversation. Every method touches only the
/// file it names and writes are atomic. Reading never changes a file: one that fails to
/// parse is salvaged as far as it goes (or reported), and is moved aside only when this
/// store is about to write over it. Safe to use from several threads and processes; a chat
/// window holds its session's `<id>.lock` so that a second window cannot overwrite it.
public final class SessionStore: @unchecked Sendable {
    public let directory: URL
    /// Ids whose file this store has read or written itself: no need to check the file on
    /// disk before overwriting them (saves of a long chat stay cheap).
    private var knownIDs = Set<String>()
    /// The session locks this store holds (see `lock(id:)`).
    private var locks: [String: SessionLock] = [:]
    private let knownLock = NSLock()

    /// Creates the directory (private to the user: chats are personal) if needed.
    public init(directory: URL) throws {
        self.directory = directory.standardizedFileURL
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: self.directory.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw SessionError("\(self.directory.path) is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                at: self.directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw SessionError("cannot create the sessions directory \(self.directory.path)")
        }
    }

    /// `$XDG_DATA_HOME/sparkchat/sessions`, or `~/.local/share/sparkchat/sessions`. A relative
    /// XDG_DATA_HOME is ignored, as the XDG spec asks.
    public static func defaultDirectory() -> URL {
        let env = ProcessInfo.processInfo.environment
        let base: URL
        if let xdg = env["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            base = URL(fileURLWithPath: xdg, isDirectory: true)
        } else {
            let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            base = URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".local/share")
        }
        return base.appendingPathComponent("sparkchat/sessions", isDirectory: true)
    }

    /// Ids are file names: letters, digits, '-', '_' and '.', not starting with '.', at most 128.
    public static func isValidID(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 128, !id.hasPrefix(".") else { return false }
        return id.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0)
                || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "."
        }
    }

    /// Whether a listing treats `<id>.json` as a session: a valid id that starts with the
    /// creation stamp every id gets (`YYYYMMDD-HHMMSS-`, see Conversation.newID). Other JSON
    /// files (a `package.json` in a folder passed to `--dir`) are not sessions and are never
    /// read, reported or touched; an explicit id (`sessions show ID`) may still name one.
    public static func isSessionID(_ id: String) -> Bool {
        let b = Array(id.utf8)
        guard b.count > 16, isValidID(id), b[8] == UInt8(ascii: "-"), b[15] == UInt8(ascii: "-") else { return false }
        return (b[0..<8] + b[9..<15]).allSatisfy { (48...57).contains($0) }
    }

    public func fileURL(id: String) -> URL { directory.appendingPathComponent(id + ".json") }
    public func lockURL(id: String) -> URL { directory.appendingPathComponent(id + ".lock") }

    // MARK: Listing

    /// Every readable conversation, newest first, plus one line per session file that is
    /// damaged (salvaged or unreadable) or was written by a newer version.
    public func list() -> (sessions: [SessionSummary], notices: [String]) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            return ([], ["cannot read the sessions directory \(directory.path)"])
        }
        var sessions: [SessionSummary] = []
        var notices: [String] = []
        for name in names.sorted() {
            if name.hasPrefix(".") {
                if let r = name.range(of: AtomicFile.tempMarker),
                    SessionStore.isSessionID(String(name[name.index(after: name.startIndex)..<r.lowerBound].dropLast(5)))
                {
                    removeIfStale(name)
                }
                continue
            }
            guard name.hasSuffix(".json") else { continue }
            let id = String(name.dropLast(5))
            guard SessionStore.isSessionID(id) else { continue }
            do {
                let (c, notice) = try open(id: id)
                sessions.append(SessionSummary(c))
                if let notice { notices.append(notice) }
            } catch let e as SessionError where e.isMissing {
                continue  // deleted by another process since the directory was read
            } catch {
                notices.append("\(error)")
            }
        }
        sessions.sort { ($0.updated, $0.id) > ($1.updated, $1.id) }
        return (sessions, notices)
    }

    /// Removes a temporary file left by a process killed mid-save. Only old ones: a young
    /// one may belong to a save in progress in another process.
    private func removeIfStale(_ name: String) {
        let path = directory.appendingPathComponent(name).path
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
            let modified = attrs[.modificationDate] as? Date, Date().timeIntervalSince(modified) > 60
        else { return }
        unlink(path)
    }

    // MARK: Reading and writing

    /// Reads `<id>.json` (see `open(id:)`), dropping the salvage notice.
    public func load(id: String) throws -> Conversation {
        try open(id: id).conversation
    }

    /// Reads `<id>.json` without changing it. A damaged file gives what can be salvaged plus
    /// a one-line notice of what was repaired or skipped; one with nothing readable throws
    /// a one-line error (`isCorrupt`), as does one from a newer version.
    public func open(id: String) throws -> (conversation: Conversation, notice: String?) {
        try checkID(id)
        let url = fileURL(id: id)
        let data: Data
        do {
            data = try BoundedFileRead.read(url.path, limit: SessionFile.maxBytes)
        } catch BoundedFileRead.Failure.missing {
            var e = SessionError("no session '\(id)' in \(directory.path)")
            e.isMissing = true
            throw e
        } catch BoundedFileRead.Failure.unreadable(let why) {
            throw SessionError("cannot read session \(id): \(why)")
        } catch BoundedFileRead.Failure.unusable(let why) {
            throw corrupt(id, why)
        }
        do {
            var c = try SessionFile.decode(data)
            c.id = id  // the file name is the identity: a copied file becomes its own session
            knownLock.withLock { _ = knownIDs.insert(id) }
            return (c, nil)
        } catch let e as FutureVersionError {
            throw SessionError("session \(id) skipped: \(e)")
        } catch let strict {
            let salvaged: SessionSalvage.Result
            do {
                salvaged = try SessionSalvage.decode(data)
            } catch let e as FutureVersionError {
                throw SessionError("session \(id) skipped: \(e)")
            } catch {
                throw corrupt(id, "\(strict)")
            }
            var c = salvaged.conversation
            c.id = id
            // Not marked known: the first save moves the damaged original aside (see save).
            return (c, SessionStore.salvageNotice(id: id, salvaged))
        }
    }

    /// "session X is damaged (…); showing N messages, M skipped; the damaged file is kept
    /// as X.json.corrupt-… when the session is next saved".
    private static func salvageNotice(id: String, _ r: SessionSalvage.Result) -> String {
        var problems = r.problems.prefix(3).joined(separator: "; ")
        if r.problems.count > 3 { problems += "; and \(r.problems.count - 3) more" }
        let kept =
            "\(r.conversation.messages.count) message\(r.conversation.messages.count == 1 ? "" : "s") read"
            + (r.messagesSkipped > 0 ? ", \(r.messagesSkipped) skipped" : "")
        return "session \(id) is damaged (\(DisplayText.truncate(DisplayText.singleLine(problems), to: 300))); \(kept); "
            + "the file is left as it is until the session is saved again, which first moves it aside to \(id).json.corrupt-<time>"
    }

    private func corrupt(_ id: String, _ reason: String) -> SessionError {
        var e = SessionError("session \(id) is corrupt (\(DisplayText.truncate(DisplayText.singleLine(reason), to: 300))); left as it is")
        e.isCorrupt = true
        return e
    }

    /// Renames a broken file to `<id>.json.corrupt-<UTC time>`; returns the new name.
    private func moveAside(_ url: URL) -> String? {
        let t = CivilTime(Date())
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", t.year, t.month, t.day, t.hour, t.minute, t.second)
        for attempt in 0..<100 {
            let name = url.lastPathComponent + ".corrupt-" + stamp + (attempt == 0 ? "" : "-\(attempt)")
            let target = directory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: target.path) { continue }
            guard posixRename(url.path, target.path) == 0 else { return nil }
            AtomicFile.syncDirectory(directory)
            return name
        }
        return nil
    }

    /// Writes the conversation atomically. A failure (disk full, read-only directory) throws
    /// a one-line error and leaves the previous file as it was. A file on disk from a newer
    /// version is never overwritten; a damaged one is moved aside first (`movedAside`
    /// says where); a session another window holds locked is refused.
    public func save(_ c: Conversation) throws {
        try checkID(c.id)
        let url = fileURL(id: c.id)
        let (known, held) = knownLock.withLock { (knownIDs.contains(c.id), locks[c.id] != nil) }
        if !held, SessionLock.isHeld(lockURL(id: c.id)) {
            throw SessionError("not saving session \(c.id): it is open in another window")
        }
        if !known { try prepareToReplace(id: c.id, url: url) }
        let data: Data
        do {
            data = try SessionFile.encode(c)
        } catch {
            throw SessionError("cannot encode session \(c.id)")
        }
        do {
            try AtomicFile.write(data, to: url)
            knownLock.withLock { _ = knownIDs.insert(c.id) }
        } catch let e as SessionError {
            throw SessionError("cannot save session \(c.id): \(e)")
        }
    }

    /// Where the last damaged file this store moved aside went (for a notice), if any.
    public private(set) var movedAside: String?

    /// Before the first write of an id this store has not read cleanly: refuse a newer
    /// version's file, and move a damaged file (or a non-file) out of the way so the write
    /// does not destroy what could not be read.
    private func prepareToReplace(id: String, url: URL) throws {
        let data: Data
        do {
            data = try BoundedFileRead.read(url.path, limit: SessionFile.maxBytes)
        } catch BoundedFileRead.Failure.missing {
            return
        } catch BoundedFileRead.Failure.unreadable {
            return  // the write will fail with the real reason, or succeed
        } catch {
            if let aside = moveAside(url) { knownLock.withLock { movedAside = aside } }
            return
        }
        do {
            _ = try SessionFile.decode(data)
        } catch let e as FutureVersionError {
            throw SessionError("not saving session \(id): the file on disk is from a newer SparkChat (version \(e.version))")
        } catch {
            do { _ = try SessionSalvage.decode(data) } catch let e as FutureVersionError {
                throw SessionError("not saving session \(id): the file on disk is from a newer SparkChat (version \(e.version))")
            } catch {}
            if let aside = moveAside(url) {
                knownLock.withLock { movedAside = aside }
            } else {
                throw SessionError("not saving session \(id): cannot move the damaged file aside")
            }
        }
    }

    // MARK: Locks

    /// Takes the write lock of `id` for this store (a chat window about to edit it).
    /// False when another window (another process, or another store) holds it.
    public func lock(id: String) throws -> Bool {
        try checkID(id)
        if knownLock.withLock({ locks[id] != nil }) { return true }
        guard let l = try SessionLock.acquire(lockURL(id: id)) else { return false }
        knownLock.withLock { locks[id] = l }
        return true
    }

    /// Releases the lock of `id` if this store holds it.
    public func unlock(id: String) {
        let l = knownLock.withLock { locks.removeValue(forKey: id) }
        l?.release()
    }

    /// Another window holds `id` (this store's own locks do not count).
    public func isOpenElsewhere(id: String) -> Bool {
        if knownLock.withLock({ locks[id] != nil }) { return false }
        return SessionLock.isHeld(lockURL(id: id))
    }

    public func delete(id: String) throws {
        try checkID(id)
        if isOpenElsewhere(id: id) { throw SessionError("session \(id) is open in another window; close it there first") }
        let url = fileURL(id: id)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw SessionError("no session '\(id)' in \(directory.path)")
        }
        guard unlink(url.path) == 0 else { throw AtomicFile.failure("cannot delete session \(id)") }
        knownLock.withLock { _ = knownIDs.remove(id) }
        unlock(id: id)
        unlink(lockURL(id: id).path)
        AtomicFile.syncDirectory(directory)
    }

    /// Gives the conversation a new title (one line, not empty).
    public func rename(id: String, to title: String) throws {
        let clean = DisplayText.singleLine(title)
        guard !clean.isEmpty else { throw SessionError("the new title is empty") }
        var c = try load(id: id)
        c.title = clean
        try save(c)
    }

    private func checkID(_ id: String) throws {
        guard SessionStore.isValidID(id) else {
            throw SessionError("invalid session id '\(DisplayText.truncate(DisplayText.singleLine(id), to: 60))' (expected letters, digits, '-', '_' or '.')")
        }
    }
}

/// `rename(2)`; named apart from `SessionStore.rename(id:to:)`.
func posixRename(_ from: String, _ to: String) -> Int32 {
    #if canImport(Glibc)
        return Glibc.rename(from, to)
    #else
        return Darwin.rename(from, to)
    #endif
}
