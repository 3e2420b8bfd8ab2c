/// Markdown as transcript rows: styled runs, wrapped by terminal columns (wide characters
/// count two), with the markers replaced by what they mean: bullets, quote bars, table
/// rules and code boxes. Rows are laid out from column 0; the transcript indents them.
enum MarkdownLayout {
    static func lines(_ text: String, width: Int, base: StyleRole = .normal) -> [TranscriptLine] {
        lines(MarkdownBlocks.parse(text), width: width, base: base)
    }

    static func lines(_ blocks: [MarkdownBlock], width: Int, base: StyleRole) -> [TranscriptLine] {
        guard width > 0 else { return [] }
        var out: [TranscriptLine] = []
        for block in blocks {
            switch block {
            case .blank:
                out.append(TranscriptLine(text: "", role: base))
            case .paragraph(let text):
                out += wrapped(StyledText(text, base: base), width: width, base: base)
            case .heading(let level, let text):
                let rows = wrapped(StyledText(text, base: .heading), width: width, base: .heading)
                out += rows
                // The two top levels are underlined, so they stand apart from bold text.
                if level <= 2, let widest = rows.map({ TextWidth.of($0.text) }).max(), widest > 0 {
                    out.append(TranscriptLine(text: String(repeating: level == 1 ? "═" : "─", count: min(widest, width)), role: .border))
                }
            case .listItem(let depth, let marker, let text):
                out += listItem(depth: depth, marker: marker, text: text, width: width, base: base)
            case .code(let language, let code, _, let depth):
                out += codeBox(language: language, code: code, indent: min(depth * 2, max(0, width - 8)), width: width)
            case .quote(let inner):
                for l in lines(inner, width: max(1, width - 2), base: .quote) {
                    var runs = [StyledRun(text: "│ " + String(repeating: " ", count: l.indent), role: .quote)]
                    runs += l.runs.isEmpty ? [StyledRun(text: l.text, role: l.role)] : l.runs
                    out.append(TranscriptLine(text: l.text, role: l.role, runs: runs))
                }
            case .table(let t):
                out += table(t, width: width, base: base)
            case .rule:
                out.append(TranscriptLine(text: String(repeating: "─", count: width), role: .border))
            }
        }
        return out
    }

    /// Each source line of `text`, wrapped; rows that are all one role carry no runs.
    static func wrapped(_ text: StyledText, width: Int, base: StyleRole, indent: Int = 0, wordBreak: Bool = true) -> [TranscriptLine] {
        text.wrap(width: width, wordBreak: wordBreak).map { row in
            TranscriptLine(text: text.string(row), role: base, indent: indent, runs: text.runs(row, base: base))
        }
    }

    /// A bullet (or the item's number) in the accent colour, its text hanging beside it.
    static func listItem(depth: Int, marker: String, text: String, width: Int, base: StyleRole) -> [TranscriptLine] {
        let bullet = marker.first?.isNumber == true ? marker : ["•", "◦", "▪"][min(depth, 2)]
        let indent = min(depth * 2, max(0, width - 4))
        let hang = TextWidth.of(bullet) + 1
        var rows = wrapped(StyledText(text, base: base), width: max(1, width - indent - hang), base: base, indent: indent + hang)
        guard !rows.isEmpty else { return [] }
        rows[0].indent = indent
        rows[0].runs = [StyledRun(text: bullet + " ", role: .accent)] + (rows[0].runs.isEmpty ? [StyledRun(text: rows[0].text, role: base)] : rows[0].runs)
        return rows
    }

    /// A fenced block in a box, its language in the top edge. Lines too long for the
    /// box wrap (code has no word breaks). Too narrow for a box: just code rows.
    static func codeBox(language: String, code: String, indent: Int, width: Int) -> [TranscriptLine] {
        let avail = width - indent
        let codeLines = code.isEmpty ? [] : code.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard avail >= 8 else {
            return codeLines.flatMap { TextWrap.wrap($0, width: max(1, avail), wordBreak: false) }
                .map { TranscriptLine(text: $0, role: .code, indent: indent) }
        }
        let label = language.isEmpty ? "" : " " + TextWidth.truncate(DisplayLabel.clean(language), to: avail - 8) + " "
        let labelWidth = TextWidth.of(label)
        let natural = codeLines.reduce(0) { max($0, TextWidth.of($1)) }
        let inner = min(avail - 4, max(natural, labelWidth + 2, 1))
        var out: [TranscriptLine] = []
        out.append(
            TranscriptLine(
                text: language, role: .border, indent: indent,
                runs: [
                    StyledRun(text: "┌─", role: .border), StyledRun(text: label, role: .meta),
                    StyledRun(text: String(repeating: "─", count: inner + 1 - labelWidth) + "┐", role: .border)
                ]))
        for line in codeLines {
            for row in TextWrap.wrap(line, width: inner, wordBreak: false) {
                out.append(
                    TranscriptLine(
                        text: row, role: .code, indent: indent,
                        runs: [
                            StyledRun(text: "│ ", role: .border), StyledRun(text: TextWidth.pad(row, to: inner), role: .code),
                            StyledRun(text: " │", role: .border)
                        ]))
            }
        }
        out.append(
            TranscriptLine(
                text: "", role: .border, indent: indent,
                runs: [StyledRun(text: "└" + String(repeating: "─", count: inner + 2) + "┘", role: .border)]))
        return out
    }

    /// Columns as wide as their widest cell; when the table is wider than the window the
    /// widest columns give way first and their cells are cut with an ellipsis.
    static func table(_ t: MarkdownTable, width: Int, base: StyleRole) -> [TranscriptLine] {
        let header = t.header.map { StyledText($0, base: .heading) }
        let rows = t.rows.map { $0.map { StyledText($0, base: base) } }
        let n = header.count
        var natural = header.map { max(1, $0.width) }
        for r in rows { for (c, cell) in r.enumerated() where c < n { natural[c] = max(natural[c], cell.width) } }
        let widths = fitColumns(natural, into: width - 3 * (n - 1))
        func row(_ cells: [StyledText], base: StyleRole) -> TranscriptLine {
            var runs: [StyledRun] = []
            var words: [String] = []
            for c in 0..<n {
                if c > 0 { runs.append(StyledRun(text: " │ ", role: .border)) }
                let cell = c < cells.count ? cells[c] : StyledText("", base: base)
                runs += cell.fitted(to: widths[c], alignment: t.alignments[c], base: base)
                words.append(cell.string(0..<cell.count))
            }
            return TranscriptLine(text: words.joined(separator: " | "), role: base, runs: runs)
        }
        var out = [row(header, base: .heading)]
        out.append(
            TranscriptLine(
                text: "", role: .border,
                runs: [
                    StyledRun(
                        text: widths.map { String(repeating: "─", count: $0) }.joined(separator: "─┼─"), role: .border)
                ]))
        for r in rows { out.append(row(r, base: base)) }
        return out
    }

    /// Column widths summing to at most `room`: every column keeps its natural width up to
    /// a common cap, the largest cap that fits; columns never go below 3 (or their natural
    /// width), so a table with too many columns is cut at the window's edge instead.
    static func fitColumns(_ natural: [Int], into room: Int) -> [Int] {
        if natural.reduce(0, +) <= room { return natural }
        var lo = 3, hi = natural.max() ?? 3
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if natural.reduce(0, { $0 + min($1, mid) }) <= room { lo = mid } else { hi = mid - 1 }
        }
        var widths = natural.map { min($0, lo) }
        // Hand the columns that were capped what is left of the room, one column at a time.
        var left = room - widths.reduce(0, +)
        for c in widths.indices where left > 0 && widths[c] < natural[c] {
            let add = min(left, natural[c] - widths[c])
            widths[c] += add; left -= add
        }
        return widths
    }
}

/// A language name as shown in a code box's edge: printable characters only.
enum DisplayLabel {
    static func clean(_ s: String) -> String {
        String(s.filter { !TextWidth.isUnprintable($0) })
    }
}

/// Inline Markdown resolved to characters with their roles (markers gone), ready to be
/// measured, wrapped and cut by terminal columns.
struct StyledText {
    private(set) var chars: [Character] = []
    private(set) var roles: [StyleRole] = []
    private(set) var widths: [Int] = []

    init(_ markdown: String, base: StyleRole) {
        for span in MarkdownInline.parse(markdown) {
            let role = StyledText.role(span.style, base: base)
            for c in span.text {
                chars.append(c); roles.append(role); widths.append(c == "\n" ? 0 : TextWidth.of(c))
            }
        }
    }

    var count: Int { chars.count }
    var width: Int { widths.reduce(0, +) }

    /// Which role an inline style takes inside a block of role `base`.
    static func role(_ s: InlineStyle, base: StyleRole) -> StyleRole {
        if s.contains(.code) { return .inlineCode }
        if s.contains(.url) { return .dim }
        if s.contains(.link) { return .link }
        if base == .heading { return .heading }
        if s.contains(.strong) { return .strong }
        if s.contains(.emphasis) { return .emphasis }
        if s.contains(.strike) { return .dim }
        return base
    }

    func string(_ r: Range<Int>) -> String { String(chars[r]) }

    /// The runs of `r` with their roles; empty when all of it is `base`.
    func runs(_ r: Range<Int>, base: StyleRole) -> [StyledRun] {
        guard roles[r].contains(where: { $0 != base }) else { return [] }
        var out: [StyledRun] = []
        var k = r.lowerBound
        while k < r.upperBound {
            var e = k
            while e < r.upperBound, roles[e] == roles[k] { e += 1 }
            out.append(StyledRun(text: String(chars[k..<e]), role: roles[k]))
            k = e
        }
        return out
    }

    /// Rows of at most `width` columns, as ranges of `chars`: each source line on its own
    /// rows, broken after a space when the row has one (else mid-word), no space
    /// starting a wrapped row, trailing spaces dropped where a row breaks.
    func wrap(width: Int, wordBreak: Bool = true) -> [Range<Int>] {
        var rows: [Range<Int>] = []
        var lineStart = 0
        while lineStart <= chars.count {
            let lineEnd = chars[lineStart...].firstIndex(of: "\n") ?? chars.count
            var start = lineStart, used = 0
            var lastSpace: Int? = nil  // index just after the last space of the row
            var continued = false  // the row began at a break: no leading spaces
            var k = lineStart
            while k < lineEnd {
                if continued && k == start && chars[k] == " " { start += 1; k += 1; continue }
                let w = widths[k]
                if used + w > width && k > start {
                    if wordBreak, let cut = lastSpace, cut > start {
                        var end = cut
                        while end > start, chars[end - 1] == " " { end -= 1 }
                        rows.append(start..<end)
                        start = cut
                        used = widths[cut..<k].reduce(0, +)
                    } else {
                        rows.append(start..<k)
                        start = k; used = 0
                    }
                    lastSpace = nil
                    continued = true
                    continue  // measure chars[k] again against the new row: it may still not fit
                }
                used += w
                if chars[k] == " " { lastSpace = k + 1 }
                k += 1
            }
            rows.append(start..<max(start, lineEnd))
            lineStart = lineEnd + 1
        }
        return rows
    }

    /// The whole text in exactly `columns`, aligned, cut with "…" when it is wider.
    func fitted(to columns: Int, alignment: MarkdownTable.Alignment, base: StyleRole) -> [StyledRun] {
        var end = chars.count
        var used = width
        var ellipsis = false
        if used > columns {
            end = 0; used = 0
            while end < chars.count, used + widths[end] <= columns - 1 { used += widths[end]; end += 1 }
            ellipsis = true
        }
        var runs = self.runs(0..<end, base: base)
        if runs.isEmpty && end > 0 { runs = [StyledRun(text: string(0..<end), role: base)] }
        if ellipsis { runs.append(StyledRun(text: "…", role: end > 0 ? roles[end - 1] : base)); used += 1 }
        let gap = max(0, columns - used)
        let before = alignment == .right ? gap : alignment == .center ? gap / 2 : 0
        if before > 0 { runs.insert(StyledRun(text: String(repeating: " ", count: before), role: base), at: 0) }
        if gap - before > 0 { runs.append(StyledRun(text: String(repeating: " ", count: gap - before), role: base)) }
        return runs
    }
}
