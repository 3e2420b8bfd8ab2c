/// A failure with a one-line, user-facing description (no stack, no type names).
public struct SessionError: Error, CustomStringConvertible {
    public let description: String
    /// The session file does not exist (so a listing that raced with a delete can skip it).
    public internal(set) var isMissing = false
    /// The file is there but nothing of it can be read as a session (it is left where it is).
    public internal(set) var isCorrupt = false
    public init(_ description: String) { self.description = description }
}

/// A file written by a newer SparkChat: refused, and never moved aside or overwritten,
/// so that the newer version still finds it.
struct FutureVersionError: Error, CustomStringConvertible {
    let version: Int
    var description: String {
        "written by a newer SparkChat (file version \(version), this build reads up to \(Conversation.currentVersion))"
    }
}
