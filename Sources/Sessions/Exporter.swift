import Foundation

public enum ExportFormat: String, CaseIterable, Sendable {
    case md, txt, html, json

    public var fileExtension: String { rawValue }
}

/// Turns a conversation into a transcript: Markdown, plain text, a self-contained HTML
/// page, or the session JSON itself. Times are UTC so the same session exports the same
/// text on every machine.
public enum Exporter {
    public static func render(_ c: Conversation, as format: ExportFormat) throws -> String {
        switch format {
        case .md: return MarkdownExport.render(c)
        case .txt: return TextExport.render(c)
        case .html: return HTMLExport.render(c)
        case .json:
            do {
                return String(decoding: try SessionFile.encode(c), as: UTF8.self)
            } catch {
                throw SessionError("cannot encode session \(c.id) as JSON")
            }
        }
    }

    /// Writes the export atomically (a reader never sees half a file); readable by others,
    /// since exports are made to be shared.
    public static func write(_ c: Conversation, as format: ExportFormat, to url: URL) throws {
        let text = try render(c, as: format)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            throw SessionError("\(url.path) is a directory")
        }
        try AtomicFile.write(Data(text.utf8), to: url, permissions: 0o644)
    }
}

/// Wording shared by the transcript formats.
enum TranscriptWords {
    static func speaker(_ m: Message) -> String {
        switch m.role {
        case .user: return "User"
        case .system: return "System"
        case .assistant: return m.model.map { "Assistant (\(DisplayText.singleLine($0)))" } ?? "Assistant"
        }
    }

    static func time(_ d: Date) -> String { CivilTime(d).display() }

    /// "42 tokens · 35.2 tok/s · first token 120 ms · FFN active 8.0% · 1.2 GFLOP (dense 3.4)".
    static func stats(_ s: MessageStats) -> String {
        var parts = ["\(s.generatedTokens) tokens"]
        if s.promptTokens > 0 { parts.append("prompt \(s.promptTokens)") }
        if s.decodeTPS > 0, s.decodeTPS.isFinite { parts.append(String(format: "%.1f tok/s", s.decodeTPS)) }
        if s.prefillTPS > 0, s.prefillTPS.isFinite { parts.append(String(format: "prefill %.1f tok/s", s.prefillTPS)) }
        if s.timeToFirstTokenMs > 0, s.timeToFirstTokenMs.isFinite {
            parts.append(String(format: "first token %.0f ms", s.timeToFirstTokenMs))
        }
        if s.meanActiveFFN > 0, s.meanActiveFFN.isFinite {
            parts.append(String(format: "FFN active %.1f%%", s.meanActiveFFN * 100))
        }
        if s.flops > 0, s.flops.isFinite {
            var f = String(format: "%.2f GFLOP", s.flops / 1e9)
            if s.flopsDense > 0, s.flopsDense.isFinite { f += String(format: " (dense %.2f)", s.flopsDense / 1e9) }
            parts.append(f)
        }
        if let a = s.speculativeAcceptance, a.isFinite { parts.append(String(format: "draft acceptance %.0f%%", a * 100)) }
        return parts.joined(separator: " · ")
    }

    static func summary(_ c: Conversation) -> [(String, String)] {
        var rows = [("Session", c.id), ("Created", time(c.created)), ("Updated", time(c.updated))]
        if let m = c.displayModel { rows.append(("Model", DisplayText.singleLine(m))) }
        rows.append(("Messages", String(c.messages.count)))
        return rows
    }
}

extension Exporter {
    /// The ISO-8601 form session files use (for `sessions list --json`).
    public static func isoTime(_ d: Date) -> String { ISODate.format(d) }
    /// "2026-11-27 05:03" (UTC) for tables.
    public static func shortTime(_ d: Date) -> String {
        let s = CivilTime(d).display(seconds: false)
        return String(s.dropLast(4))
    }
}
