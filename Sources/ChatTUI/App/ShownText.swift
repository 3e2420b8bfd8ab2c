import Foundation

/// Text too large to draw: a 10 MB system prompt must not be hashed, wrapped and laid out
/// on every keystroke.
enum ShownText {
    /// "900 bytes", "12 KB", "10.8 MB" (as the size refusals write sizes).
    static func describe(_ bytes: Int) -> String { ByteCountFormatter.string(fromByteCount: Int64(bytes), countStyle: .file) }

    /// At most `limit` bytes of `text` (cut at a character boundary) with a last line
    /// saying how large the whole is; `text` itself when it is small enough. O(limit):
    /// the UTF-8 count and offset of a native string are constant time.
    static func cut(_ text: String, limit: Int, what: String) -> String {
        let total = text.utf8.count
        guard total > limit else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: limit)
        while end > text.utf8.startIndex && UTF8.isContinuation(text.utf8[end]) {
            end = text.utf8.index(before: end)
        }
        return String(text[..<end]) + "\n… (\(what) is \(describe(total)); the first \(describe(limit)) are shown)"
    }
}
