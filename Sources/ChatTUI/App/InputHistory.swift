import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The input history kept across runs, in `$XDG_STATE_HOME/sparkchat/history`
/// (default `~/.local/state/sparkchat/history`): one JSON string per line, so an
/// entry of several lines stays one line of the file.
///
/// Each sent input is appended with one `write` to a file opened with O_APPEND, so two
/// chats running at once interleave whole entries, never parts of them. Loading keeps
/// the newest `limit` entries; a line that does not decode is skipped with a notice,
/// and a file that cannot be read leaves the history empty with a notice: the chat
/// works without it.
struct InputHistory {
    /// Entries kept, in memory and (after trimming) on disk.
    static let limit = 1000
    /// The file is rewritten down to `limit` only once it holds this many entries, so a
    /// full history is not rewritten at every start.
    static let trimAt = 1250
    /// A file larger than this is read from its last bytes only (the older entries
    /// would be trimmed anyway), so a huge or foreign file cannot stall the start.
    static let maxReadBytes = 16 << 20
    /// An input larger than this (a big paste) is kept for this run only.
    static let maxEntryBytes = 64 << 10

    let url: URL
    private(set) var entries: [String] = []
    /// Set after the first failed append, so a full disk gives one notice, not one per message.
    private var appendFailed = false

    /// `$XDG_STATE_HOME/sparkchat/history`; the XDG spec ignores a relative XDG_STATE_HOME.
    static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base: URL
        if let s = environment["XDG_STATE_HOME"], s.hasPrefix("/") {
            base = URL(fileURLWithPath: s)
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            base = URL(fileURLWithPath: home).appendingPathComponent(".local/state")
        }
        return base.appendingPathComponent("sparkchat/history")
    }

    init(url: URL, entries: [String] = []) {
        self.url = url
        self.entries = entries
    }

    /// Reads the history at `url`; a missing file is an empty history. Problems come
    /// back as a one-line notice, never as an error.
    static func load(from url: URL) -> (history: InputHistory, notice: String?) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return (InputHistory(url: url), nil) }
        let data: Data
        do {
            if isDirectory.boolValue { throw HistoryError(errno: EISDIR) }
            data = try readTail(of: url)
        } catch {
            return (InputHistory(url: url), "input history not loaded: \(url.path): \(describe(error))")
        }
        var entries: [String] = []
        var bad = 0
        let decoder = JSONDecoder()
        for line in data.split(separator: 0x0a) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0d }) {
            if let s = try? decoder.decode(String.self, from: Data(line)) { entries.append(s) } else { bad += 1 }
        }
        let history = InputHistory(url: url, entries: Array(entries.suffix(limit)))
        var notice: String? = bad > 0 ? "input history: skipped \(bad) unreadable line\(bad == 1 ? "" : "s") in \(url.path)" : nil
        if entries.count >= trimAt {
            if let e = history.rewrite() { notice = notice ?? "input history not trimmed: \(e)" }
        }
        return (history, notice)
    }

    /// The file's bytes, or its last `maxReadBytes` from the first whole line on.
    private static func readTail(of url: URL) throws -> Data {
        let h = try FileHandle(forReadingFrom: url)
        defer { try? h.close() }
        let size = try h.seekToEnd()
        guard size > UInt64(maxReadBytes) else {
            try h.seek(toOffset: 0)
            return try h.readToEnd() ?? Data()
        }
        try h.seek(toOffset: size - UInt64(maxReadBytes))
        let tail = try h.readToEnd() ?? Data()
        guard let nl = tail.firstIndex(of: 0x0a) else { return Data() }
        return tail[(nl + 1)...]
    }

    /// Records a sent input: in memory, and appended to the file. Returns a notice the
    /// first time the file cannot be written.
    mutating func append(_ text: String) -> String? {
        guard !text.isEmpty, entries.last != text else { return nil }
        entries.append(text)
        if entries.count > InputHistory.limit { entries.removeFirst(entries.count - InputHistory.limit) }
        guard let line = InputHistory.line(text), line.count <= InputHistory.maxEntryBytes else { return nil }
        do {
            try ensureDirectory()
            try InputHistory.appendOnce(line, to: url)
            return nil
        } catch {
            if appendFailed { return nil }
            appendFailed = true
            return "input history not saved: \(InputHistory.describe(error))"
        }
    }

    /// One entry as a line of the file: a JSON string (newlines escaped) and "\n".
    static func line(_ text: String) -> Data? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes  // "/retry", not "\/retry"
        guard var d = try? encoder.encode(text) else { return nil }
        d.append(0x0a)
        return d
    }

    private func ensureDirectory() throws {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
    }

    /// One `write` on an O_APPEND descriptor: the kernel places it at the end of the
    /// file as a whole, even with another chat appending at the same time.
    private static func appendOnce(_ line: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HistoryError(errno: errno) }
        defer { close(fd) }
        let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 { throw HistoryError(errno: errno) }
        if n < line.count { throw HistoryError(message: "short write (disk full?)") }
    }

    /// Replaces the file with the kept entries (a temporary file renamed over it, so a
    /// crash leaves the old file or the new one). Returns a notice on failure.
    private func rewrite() -> String? {
        var data = Data()
        for e in entries { if let l = InputHistory.line(e), l.count <= InputHistory.maxEntryBytes { data.append(l) } }
        do {
            try data.write(to: url, options: .atomic)
            chmod(url.path, 0o600)
            return nil
        } catch {
            return InputHistory.describe(error)
        }
    }

    private static func describe(_ error: Error) -> String {
        if let e = error as? HistoryError { return e.description }
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        return ns.localizedDescription.split(whereSeparator: \.isNewline).first.map(String.init) ?? "\(error)"
    }
}

struct HistoryError: Error, CustomStringConvertible {
    let description: String
    init(errno code: Int32) { description = String(cString: strerror(code)) }
    init(message: String) { description = message }
}
