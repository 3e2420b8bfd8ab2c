import Foundation

/// Cheap bounds for text too large to use or to draw: a 10 MB system prompt must neither
/// be tokenized on the UI thread nor laid out on every keystroke.
enum PromptSize {
    /// No tokenizer makes fewer tokens than one per 4 bytes of text on average (Gemma's
    /// runs ~4 bytes per token on English prose, 1 per digit), so text above 4 bytes per
    /// context token cannot fit and is refused without tokenizing it. Text under the bound
    /// is tokenized by the generation thread, which fails cleanly if it still does not fit.
    static let bytesPerTokenBound = 4

    /// Why `what` ("the system prompt") cannot go to a model of `contextTokens`; nil when
    /// it might fit (or the context is not known yet).
    static func refusal(_ what: String, bytes: Int, contextTokens: Int) -> String? {
        guard contextTokens > 0, bytes > bytesPerTokenBound * contextTokens else { return nil }
        return "\(what) is \(describe(bytes)): too large for the model's context of \(contextTokens) tokens"
    }

    /// "900 bytes", "12.3 KB", "10.0 MB".
    static func describe(_ bytes: Int) -> String {
        if bytes < 1000 { return "\(bytes) bytes" }
        if bytes < 1_000_000 { return String(format: "%.1f KB", Double(bytes) / 1000) }
        return String(format: "%.1f MB", Double(bytes) / 1_000_000)
    }

    /// At most `limit` bytes of `text` (cut at a character boundary) with a last line
    /// saying how large the whole is; `text` itself when it is small enough. O(limit):
    /// the UTF-8 count and offset of a native string are constant time.
    static func shown(_ text: String, limit: Int, what: String) -> String {
        let total = text.utf8.count
        guard total > limit else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: limit)
        while end > text.utf8.startIndex && UTF8.isContinuation(text.utf8[end]) {
            end = text.utf8.index(before: end)
        }
        return String(text[..<end]) + "\n… (\(what) is \(describe(total)); the first \(describe(limit)) are shown)"
    }
}
