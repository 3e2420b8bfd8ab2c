import Foundation

/// Where a conversation goes when its session file cannot be written (disk full, sessions
/// directory gone) and the chat is quitting: a copy in the user's state directory, else in
/// /tmp, so the last turns are never lost without a word.
public enum UnsavedCopy {
    /// `$XDG_STATE_HOME/sparkchat/unsaved` (default ~/.local/state), then a private folder
    /// in the temporary directory (often another file system than a full home).
    public static func candidateDirectories() -> [URL] {
        let env = ProcessInfo.processInfo.environment
        var out: [URL] = []
        if let s = env["XDG_STATE_HOME"], s.hasPrefix("/") {
            out.append(URL(fileURLWithPath: s).appendingPathComponent("sparkchat/unsaved"))
        } else if let home = env["HOME"], !home.isEmpty {
            out.append(URL(fileURLWithPath: home).appendingPathComponent(".local/state/sparkchat/unsaved"))
        }
        out.append(URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("sparkchat-unsaved-\(getuid())"))
        return out
    }

    /// Writes `c` (the session JSON) to the first directory that takes it; returns its path,
    /// or throws with every directory's reason when none does.
    public static func write(_ c: Conversation, to directories: [URL] = candidateDirectories()) throws -> URL {
        let data: Data
        do { data = try SessionFile.encode(c) } catch { throw SessionError("cannot encode session \(c.id)") }
        let t = CivilTime(Date())
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", t.year, t.month, t.day, t.hour, t.minute, t.second)
        let name = (SessionStore.isValidID(c.id) ? c.id : "session") + "-unsaved-" + stamp + ".json"
        var reasons: [String] = []
        for dir in directories {
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                let url = dir.appendingPathComponent(name)
                try AtomicFile.write(data, to: url)
                return url
            } catch {
                reasons.append("\(dir.path): \(error is SessionError ? "\(error)" : "cannot create the folder")")
            }
        }
        throw SessionError("no copy written (\(reasons.joined(separator: "; ")))")
    }
}
