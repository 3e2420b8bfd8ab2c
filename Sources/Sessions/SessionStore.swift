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
        self.init(id: c.id, title: c.title, created: c.created, updated: c.updated, messageCount: c.messages.count,
                  model: c.displayModel)
    }
}

/// A directory of `<id>.json` files, one per conversation (DESIGN.md §6). Every method
/// touches only the file it names, writes are atomic, and a file that fails to parse is
/// moved aside so the rest keeps working. Safe to use from several threads and processes.
public final class SessionStore: @unchecked Sendable {
    public let directory: URL
    /// Ids whose file this store has read or written itself: no need to check the version
    /// on disk before overwriting them (saves of a long chat stay cheap).
    private var knownIDs = Set<String>()
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
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true,
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
        return id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0)
            || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    public func fileURL(id: String) -> URL { directory.appendingPathComponent(id + ".json") }

    // MARK: Listing

    /// Every readable conversation, newest first, plus one line per file that was skipped
    /// (moved aside as corrupt, or written by a newer version and left untouched).
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
                if name.contains(AtomicFile.tempMarker) { removeIfStale(name) }
                continue
            }
            guard name.hasSuffix(".json") else { continue }
            let id = String(name.dropLast(5))
            guard SessionStore.isValidID(id) else { continue }
            do {
                sessions.append(SessionSummary(try load(id: id)))
            } catch let e as SessionError where e.isMissing {
                continue   // deleted by another process since the directory was read
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
              let modified = attrs[.modificationDate] as? Date, Date().timeIntervalSince(modified) > 60 else { return }
        unlink(path)
    }

    // MARK: Reading and writing

    /// Reads `<id>.json`. A file that does not parse is moved aside and reported; one from a
    /// newer version is reported and left alone.
    public func load(id: String) throws -> Conversation {
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
            throw corrupt(id: id, url: url, reason: why)
        }
        do {
            var c = try SessionFile.decode(data)
            c.id = id   // the file name is the identity: a copied file becomes its own session
            knownLock.withLock { _ = knownIDs.insert(id) }
            return c
        } catch let e as FutureVersionError {
            throw SessionError("session \(id) skipped: \(e)")
        } catch {
            throw corrupt(id: id, url: url, reason: "\(error)")
        }
    }

    /// Moves a broken file out of the way and says so in one line.
    private func corrupt(id: String, url: URL, reason: String) -> SessionError {
        if let aside = moveAside(url) {
            return SessionError("session \(id) is corrupt (\(reason)); moved it aside to \(aside)")
        }
        return SessionError("session \(id) is corrupt (\(reason))")
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
    /// version is never overwritten.
    public func save(_ c: Conversation) throws {
        try checkID(c.id)
        let url = fileURL(id: c.id)
        if !knownLock.withLock({ knownIDs.contains(c.id) }), let version = onDiskVersion(url),
           version > Conversation.currentVersion {
            throw SessionError("not saving session \(c.id): the file on disk is from a newer SparkChat (version \(version))")
        }
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

    /// The `version` of an existing file, if it has a readable one. Only the version is
    /// decoded, so this stays cheap on every save.
    private func onDiskVersion(_ url: URL) -> Int? {
        struct Probe: Decodable { var version: Int }
        guard let data = try? BoundedFileRead.read(url.path, limit: SessionFile.maxBytes) else { return nil }
        return (try? JSONDecoder().decode(Probe.self, from: data))?.version
    }

    public func delete(id: String) throws {
        try checkID(id)
        let url = fileURL(id: id)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw SessionError("no session '\(id)' in \(directory.path)")
        }
        guard unlink(url.path) == 0 else { throw AtomicFile.failure("cannot delete session \(id)") }
        knownLock.withLock { _ = knownIDs.remove(id) }
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
