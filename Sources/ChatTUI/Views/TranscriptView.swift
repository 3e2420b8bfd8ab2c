import Foundation
import Sessions

/// One drawn row of the transcript. `text` is the row's words (what a reader would
/// copy); `runs`, when present, is what is drawn from `indent` on instead: the words in
/// their inline styles plus decoration (bullets, quote bars, code-box edges).
struct TranscriptLine: Equatable {
    var text: String
    var role: StyleRole
    var indent: Int = 0
    var runs: [StyledRun] = []

    /// The row as drawn (without the indent).
    var drawn: String { runs.isEmpty ? text : runs.map(\.text).joined() }
}

/// Part of a row in one style.
struct StyledRun: Equatable {
    var text: String
    var role: StyleRole
}

/// The conversation as word-wrapped rows with a scrollback position. The position is
/// kept as "rows above the bottom", and grows by the rows new output adds while the
/// reader is scrolled up, so streaming never moves what they are reading; at the
/// bottom (0) the view follows new output.
final class TranscriptView {
    private(set) var scrollFromBottom = 0
    private var lastTotal = 0
    private var lastWidth = 0
    private var cache: [UUID: (key: Int, lines: [TranscriptLine])] = [:]
    /// The streaming reply changes on every token: only its unfinished end is laid out again.
    private let streamLayout = MarkdownStreamLayout()
    private(set) var pageHeight = 1

    /// Rows for all messages at `width` (cached per message until its text changes).
    func lines(for messages: [Message], width: Int, streaming: UUID?) -> [TranscriptLine] {
        guard width > 0 else { return [] }
        var out: [TranscriptLine] = []
        var seen = Set<UUID>()
        for m in messages {
            seen.insert(m.id)
            var h = Hasher()
            h.combine(width); h.combine(m.text); h.combine(m.interrupted); h.combine(m.model)
            h.combine(m.stats?.generatedTokens); h.combine(streaming == m.id)
            let key = h.finalize()
            if let c = cache[m.id], c.key == key { out += c.lines; continue }
            let ls =
                streaming == m.id
                ? TranscriptView.layout(m, width: width, streaming: true, markdown: streamLayout.lines)
                : TranscriptView.layout(m, width: width, streaming: false)
            cache[m.id] = (key, ls)
            out += ls
        }
        if cache.count > seen.count + 16 { cache = cache.filter { seen.contains($0.key) } }
        return out
    }

    static let timeFormatter: DateFormatter = {
        let f = DateFormatter(); f.dateFormat = "HH:mm"; return f
    }()

    /// A message as rows: a header (who, which model, when, reply stats), the body
    /// (a reply's Markdown rendered; what people type stays as typed), and a blank row.
    static func layout(
        _ m: Message, width: Int, streaming: Bool,
        markdown: (String, Int) -> [TranscriptLine] = { MarkdownLayout.lines($0, width: $1) }
    ) -> [TranscriptLine] {
        var out: [TranscriptLine] = []
        let time = timeFormatter.string(from: m.time)
        switch m.role {
        case .user:
            out.append(TranscriptLine(text: "▌ you · \(time)", role: .user))
        case .system:
            out.append(TranscriptLine(text: "▌ system · \(time)", role: .system))
        case .assistant:
            var h = "▌ \(m.model ?? "model") · \(time)"
            if let s = m.stats, s.generatedTokens > 0 {
                h += " · \(s.generatedTokens) tok · " + String(format: "%.1f tok/s", s.decodeTPS)
            }
            if streaming { h += " · writing…" }
            out.append(TranscriptLine(text: h, role: .assistant))
        }
        let textWidth = max(1, width - 2)
        let body = m.text.isEmpty && streaming ? "…" : m.text
        if m.role == .assistant {
            for var l in markdown(body, textWidth) {
                l.indent += 2
                out.append(l)
            }
        } else {
            for r in TextWrap.wrap(body, width: textWidth) {
                out.append(TranscriptLine(text: r, role: m.role == .system ? .system : .normal, indent: 2))
            }
        }
        if m.interrupted { out.append(TranscriptLine(text: "[interrupted]", role: .interrupted, indent: 2)) }
        out.append(TranscriptLine(text: "", role: .normal))
        return out
    }

    func render(_ messages: [Message], streaming: UUID?, into canvas: inout Canvas, rect: Rect) {
        guard !rect.isEmpty else { return }
        pageHeight = rect.height
        let all = lines(for: messages, width: rect.width, streaming: streaming)
        let total = all.count
        if rect.width == lastWidth && total > lastTotal && scrollFromBottom > 0 {
            scrollFromBottom += total - lastTotal
        }
        lastTotal = total; lastWidth = rect.width
        scrollFromBottom = min(scrollFromBottom, max(0, total - rect.height))
        let end = total - scrollFromBottom
        let start = max(0, end - rect.height)
        canvas.fill(rect, role: .normal)
        for (i, l) in all[start..<end].enumerated() {
            if l.runs.isEmpty {
                // Code too narrow for its box keeps its background across the row.
                if l.role == .code { canvas.fill(Rect(x: rect.x + l.indent, y: rect.y + i, width: rect.width - l.indent, height: 1), role: .code) }
                canvas.put(l.text, x: rect.x + l.indent, y: rect.y + i, role: l.role, clip: rect)
            } else {
                var x = rect.x + l.indent
                for r in l.runs { x = canvas.put(r.text, x: x, y: rect.y + i, role: r.role, clip: rect) }
            }
        }
        if scrollFromBottom > 0 && rect.height > 0 {
            let tag = " ↓ \(scrollFromBottom) more (End) "
            canvas.put(tag, x: rect.maxX - TextWidth.of(tag), y: rect.maxY - 1, role: .status, clip: rect)
        }
    }

    var isFollowing: Bool { scrollFromBottom == 0 }
    func scroll(by rows: Int) { scrollFromBottom = max(0, min(scrollFromBottom + rows, max(0, lastTotal - pageHeight))) }
    func pageUp() { scroll(by: max(1, pageHeight - 1)) }
    func pageDown() { scroll(by: -max(1, pageHeight - 1)) }
    func toTop() { scrollFromBottom = max(0, lastTotal - pageHeight) }
    func toBottom() { scrollFromBottom = 0 }
}
