/// The block structure of a Markdown reply, as the transcript draws it.
///
/// Line breaks inside a paragraph are kept (chat text means its newlines), so a
/// paragraph is its source lines. Not supported, because models do not write them:
/// setext headings, indented code blocks, HTML blocks, link reference definitions.
indirect enum MarkdownBlock: Equatable {
    case paragraph(String)
    case heading(level: Int, text: String)
    /// `depth`: how many list levels the fence sits under (its box is indented as much).
    case code(language: String, code: String, closed: Bool, depth: Int)
    /// `depth` 0 is a top-level item; `text` holds the item's continuation lines after newlines.
    case listItem(depth: Int, marker: String, text: String)
    case quote([MarkdownBlock])
    case table(MarkdownTable)
    case rule
    case blank
}

struct MarkdownTable: Equatable {
    enum Alignment: Equatable { case left, center, right }
    var header: [String]
    var alignments: [Alignment]
    var rows: [[String]]
}

enum MarkdownBlocks {
    static func parse(_ text: String) -> [MarkdownBlock] {
        let lines = text.replacingOccurrences(of: "\t", with: "    ")
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.last == "\r" ? $0.dropLast() : $0 }
        return parse(lines[...])
    }

    /// An open list item: where its marker sits and where its text starts.
    private struct OpenItem { let indent: Int; let content: Int }

    static func parse(_ lines: ArraySlice<Substring>) -> [MarkdownBlock] {
        var blocks: [MarkdownBlock] = []
        var items: [OpenItem] = []  // the list items the next line may belong to, outermost first
        var afterBlank = false
        var paragraph: [Substring] = []
        func flush() {
            if !paragraph.isEmpty { blocks.append(.paragraph(paragraph.joined(separator: "\n"))); paragraph = [] }
        }
        var i = lines.startIndex
        while i < lines.endIndex {
            let line = lines[i]
            let body = line.drop { $0 == " " }
            let indent = line.count - body.count

            if let fence = MarkdownCodeBlocks.opening(line) {
                flush()
                var j = i + 1
                var code: [Substring] = []
                while j < lines.endIndex, !MarkdownCodeBlocks.closes(lines[j], fence) {
                    code.append(MarkdownCodeBlocks.strip(lines[j], indent: fence.indent)); j += 1
                }
                let depth = items.lastIndex { fence.indent >= $0.content }.map { $0 + 1 } ?? 0
                blocks.append(.code(language: fence.language, code: code.joined(separator: "\n"), closed: j < lines.endIndex, depth: depth))
                i = min(j + 1, lines.endIndex)
                afterBlank = false
                continue
            }
            if body.isEmpty {
                flush()
                if blocks.last != .blank { blocks.append(.blank) }
                afterBlank = true
                i += 1
                continue
            }
            defer { afterBlank = false }
            if isRule(body) {
                flush(); items = []
                blocks.append(.rule); i += 1; continue
            }
            if indent <= 3, let (level, text) = heading(body) {
                flush(); items = []
                blocks.append(.heading(level: level, text: text)); i += 1; continue
            }
            if indent <= 3, body.first == ">" {
                flush(); items = []
                var inner: [Substring] = []
                while i < lines.endIndex {
                    let b = lines[i].drop { $0 == " " }
                    guard b.first == ">" else { break }
                    let rest = b.dropFirst()
                    inner.append(rest.first == " " ? rest.dropFirst() : rest)
                    i += 1
                }
                blocks.append(.quote(parse(inner[...])))
                continue
            }
            if let (marker, text) = listMarker(body) {
                flush()
                while let top = items.last, top.indent >= indent { items.removeLast() }
                blocks.append(.listItem(depth: items.count, marker: marker, text: String(text)))
                items.append(OpenItem(indent: indent, content: indent + (body.count - text.count)))
                i += 1; continue
            }
            if i + 1 < lines.endIndex, body.contains("|"), let table = table(at: i, in: lines) {
                flush(); items = []
                blocks.append(.table(table.table))
                i = table.end
                continue
            }
            // Text under an open item (indented past its marker, or straight after it) continues it.
            if let top = items.last, !afterBlank || indent > top.indent,
                case .listItem(let depth, let marker, let text)? = blocks.last, paragraph.isEmpty
            {
                blocks[blocks.count - 1] = .listItem(depth: depth, marker: marker, text: text + "\n" + body)
                i += 1; continue
            }
            if let top = items.last, afterBlank, indent > top.indent {
                // A later paragraph of the same item, after a blank line.
                if case .blank? = blocks.last, case .listItem(let depth, let marker, let text)? = blocks.dropLast().last {
                    blocks.removeLast()
                    blocks[blocks.count - 1] = .listItem(depth: depth, marker: marker, text: text + "\n\n" + body)
                    i += 1; continue
                }
            }
            if let top = items.last, indent > top.indent {} else { items = [] }
            paragraph.append(line)
            i += 1
        }
        flush()
        return blocks
    }

    /// `---`, `***`, `___` (three or more, spaces allowed between).
    static func isRule(_ body: Substring) -> Bool {
        guard let c = body.first, c == "-" || c == "*" || c == "_" else { return false }
        var n = 0
        for ch in body {
            if ch == c { n += 1 } else if ch != " " { return false }
        }
        return n >= 3
    }

    /// `# Title` … `###### Title`, closing `#`s dropped.
    static func heading(_ body: Substring) -> (Int, String)? {
        let hashes = body.prefix { $0 == "#" }
        guard (1...6).contains(hashes.count) else { return nil }
        let rest = body.dropFirst(hashes.count)
        guard rest.isEmpty || rest.first == " " else { return nil }
        var text = rest.trimmingCharacters(in: .whitespaces)
        let closing = text.reversed().prefix { $0 == "#" }.count
        if closing > 0 {
            let kept = text.dropLast(closing)
            if kept.isEmpty || kept.last == " " { text = kept.trimmingCharacters(in: .whitespaces) }
        }
        return (hashes.count, text)
    }

    /// `- `, `* `, `+ `, `1. `, `1) `: the marker and the item's text.
    static func listMarker(_ body: Substring) -> (String, Substring)? {
        guard let c = body.first else { return nil }
        var marker: Substring
        if c == "-" || c == "*" || c == "+" {
            marker = body.prefix(1)
        } else {
            let digits = body.prefix { $0.isASCII && $0.isNumber }
            guard (1...9).contains(digits.count) else { return nil }
            let after = body.dropFirst(digits.count).first
            guard after == "." || after == ")" else { return nil }
            marker = body.prefix(digits.count + 1)
        }
        let rest = body.dropFirst(marker.count)
        guard rest.isEmpty || rest.first == " " else { return nil }
        return (String(marker), rest.drop { $0 == " " })
    }

    /// A GFM pipe table starting at `i`: a header row, a delimiter row with as many cells,
    /// then every following line that holds a `|`.
    private static func table(at i: Int, in lines: ArraySlice<Substring>) -> (table: MarkdownTable, end: Int)? {
        let header = cells(lines[i])
        guard let alignments = delimiterRow(lines[i + 1]), alignments.count == header.count else { return nil }
        var rows: [[String]] = []
        var j = i + 2
        while j < lines.endIndex, lines[j].contains("|"), !lines[j].allSatisfy({ $0 == " " }) {
            var r = cells(lines[j])
            if r.count < header.count { r += Array(repeating: "", count: header.count - r.count) }
            rows.append(Array(r.prefix(header.count)))
            j += 1
        }
        return (MarkdownTable(header: header, alignments: alignments, rows: rows), j)
    }

    /// `| :--- | :-: | --: |`: one alignment per cell, or nil when the line is not a delimiter row.
    static func delimiterRow(_ line: Substring) -> [MarkdownTable.Alignment]? {
        guard line.contains("-") else { return nil }
        var result: [MarkdownTable.Alignment] = []
        for cell in cells(line) {
            let left = cell.hasPrefix(":"), right = cell.hasSuffix(":")
            let dashes = cell.dropFirst(left ? 1 : 0).dropLast(right && cell.count > 1 ? 1 : 0)
            guard !dashes.isEmpty, dashes.allSatisfy({ $0 == "-" }) else { return nil }
            result.append(left && right ? .center : right ? .right : .left)
        }
        return result.isEmpty ? nil : result
    }

    /// The cells of a table row: split at `|` (not `\|`), outer pipes optional, trimmed.
    static func cells(_ line: Substring) -> [String] {
        var s = line.trimmingCharacters(in: .whitespaces)[...]
        if s.first == "|" { s = s.dropFirst() }
        if s.last == "|" && !s.hasSuffix("\\|") { s = s.dropLast() }
        var out: [String] = []
        var cur = ""
        var escaped = false
        for ch in s {
            if escaped {
                // `\|` is a pipe inside a cell; other escapes are left for the inline parser.
                if ch != "|" { cur.append("\\") }
                cur.append(ch)
                escaped = false
                continue
            }
            if ch == "\\" { escaped = true; continue }
            if ch == "|" { out.append(cur.trimmingCharacters(in: .whitespaces)); cur = ""; continue }
            cur.append(ch)
        }
        if escaped { cur.append("\\") }
        out.append(cur.trimmingCharacters(in: .whitespaces))
        return out
    }
}
