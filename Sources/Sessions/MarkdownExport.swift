/// Markdown transcript: a heading per message with speaker and time, the text verbatim
/// (it is Markdown already), stats in italics.
enum MarkdownExport {
    static func render(_ c: Conversation) -> String {
        var out = "# \(DisplayText.singleLine(c.title))\n\n"
        for (k, v) in TranscriptWords.summary(c) { out += "- **\(k):** \(v)\n" }
        if let s = c.systemPrompt, !s.isEmpty {
            out +=
                "\n**System prompt:**\n\n"
                + s.split(separator: "\n", omittingEmptySubsequences: false)
                .map { "> " + $0 }.joined(separator: "\n") + "\n"
        }
        for m in c.messages {
            out += "\n---\n\n### \(TranscriptWords.speaker(m)) · \(TranscriptWords.time(m.time))\n\n"
            out += body(m.text) + "\n"
            var notes: [String] = []
            if let s = m.stats { notes.append(TranscriptWords.stats(s)) }
            if m.interrupted { notes.append("interrupted") }
            if !notes.isEmpty { out += "\n*" + notes.joined(separator: " · ") + "*\n" }
        }
        return out
    }

    /// The text as written, except that a code block left open (a reply cut off mid-code)
    /// is closed, so it cannot swallow the rest of the transcript.
    static func body(_ text: String) -> String {
        var out = text.hasSuffix("\n") ? String(text.dropLast()) : text
        if case .code(_, _, let fence, closed: false)? = TextBlock.split(text).last { out += "\n" + fence }
        return out
    }
}
