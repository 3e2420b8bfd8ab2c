/// Word wrapping by terminal columns (wide characters count two).
enum TextWrap {
    /// Wraps `text` (which may hold newlines) into rows of at most `width` columns.
    /// Breaks after spaces when a row has one, else mid-word; an empty line stays one
    /// empty row. Tabs become four spaces.
    static func wrap(_ text: String, width: Int, wordBreak: Bool = true) -> [String] {
        guard width > 0 else { return [] }
        var rows: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            wrapLine(line.replacingOccurrences(of: "\t", with: "    "), width: width, wordBreak: wordBreak, into: &rows)
        }
        return rows
    }

    private static func wrapLine(_ line: String, width: Int, wordBreak: Bool, into rows: inout [String]) {
        if line.isEmpty { rows.append(""); return }
        var row: [Character] = []
        var rowWidth = 0
        var lastSpace: Int? = nil  // index in `row` just after the last space
        var continued = false  // the row began at a break: no leading spaces
        for ch in line {
            let w = TextWidth.of(ch)
            // At most twice: a break after the last space may leave a row that still
            // cannot take `ch`, which then breaks mid-word.
            while rowWidth + w > width && !row.isEmpty {
                if wordBreak, let cut = lastSpace, cut > 0 {
                    let head = row[..<cut]
                    rows.append(String(head).trimmingTrailingSpaces())
                    row = Array(row[cut...])
                    rowWidth = row.reduce(0) { $0 + TextWidth.of($1) }
                } else {
                    rows.append(String(row)); row = []; rowWidth = 0
                }
                lastSpace = nil
                continued = true
            }
            if ch == " " && row.isEmpty && continued { continue }  // no leading space on a wrapped row
            row.append(ch); rowWidth += w
            if ch == " " { lastSpace = row.count }
        }
        rows.append(String(row))
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
