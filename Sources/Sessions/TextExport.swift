/// Plain-text transcript: a bracketed header line per message, then its text verbatim
/// (code blocks and all). `sessions show` prints this.
enum TextExport {
    static func render(_ c: Conversation) -> String {
        let title = DisplayText.singleLine(c.title)
        var out = title + "\n" + String(repeating: "=", count: max(3, title.count)) + "\n"
        for (k, v) in TranscriptWords.summary(c) { out += "\(k): \(v)\n" }
        if let s = c.systemPrompt, !s.isEmpty { out += "System prompt: " + s + "\n" }
        for m in c.messages {
            out += "\n[\(TranscriptWords.time(m.time))] \(TranscriptWords.speaker(m))"
            out += (m.interrupted ? " (interrupted)" : "") + "\n"
            out += (m.text.hasSuffix("\n") ? String(m.text.dropLast()) : m.text) + "\n"
            if let s = m.stats { out += "(" + TranscriptWords.stats(s) + ")\n" }
        }
        return out
    }
}
