/// The multi-line input: a buffer of grapheme clusters with a cursor, Emacs-style
/// editing keys and a history. Moving left/right steps over whole clusters, so wide
/// characters, emoji and combining sequences are never split.
struct InputEditor {
    private(set) var chars: [Character] = []
    private(set) var cursor = 0
    private(set) var history: [String] = []
    private var historyIndex: Int? = nil
    private var draft: [Character] = []

    /// Larger input than this is cut (with a notice from the caller): a megabyte paste
    /// must not stall the UI, and no model context holds that much anyway.
    static let maxCharacters = 200_000

    var text: String { String(chars) }
    var isEmpty: Bool { chars.isEmpty }

    init(text: String = "") { chars = Array(text); cursor = chars.count }

    /// Inserts text at the cursor; returns false when it had to be cut to the limit.
    @discardableResult
    mutating func insert(_ s: String) -> Bool {
        var new = Array(s)
        let room = InputEditor.maxCharacters - chars.count
        let fits = new.count <= room
        if !fits { new = Array(new.prefix(max(0, room))) }
        chars.insert(contentsOf: new, at: cursor)
        cursor += new.count
        historyIndex = nil
        return fits
    }

    mutating func newline() { insert("\n") }

    mutating func backspace() {
        guard cursor > 0 else { return }
        chars.remove(at: cursor - 1); cursor -= 1
    }

    mutating func deleteForward() {
        guard cursor < chars.count else { return }
        chars.remove(at: cursor)
    }

    mutating func left() { cursor = max(0, cursor - 1) }
    mutating func right() { cursor = min(chars.count, cursor + 1) }

    private var lineStart: Int {
        var i = cursor
        while i > 0 && chars[i - 1] != "\n" { i -= 1 }
        return i
    }
    private var lineEnd: Int {
        var i = cursor
        while i < chars.count && chars[i] != "\n" { i += 1 }
        return i
    }

    /// Ctrl-A / Ctrl-E: start and end of the current line.
    mutating func moveToLineStart() { cursor = lineStart }
    mutating func moveToLineEnd() { cursor = lineEnd }

    /// Ctrl-K: delete to the end of the line (at the end, join the next line).
    mutating func killToLineEnd() {
        let end = lineEnd
        if end == cursor { deleteForward() } else { chars.removeSubrange(cursor..<end) }
    }

    /// Ctrl-U: delete from the start of the line to the cursor.
    mutating func killToLineStart() {
        let start = lineStart
        chars.removeSubrange(start..<cursor); cursor = start
    }

    /// Word motions as in readline (Alt-B, Alt-F): a word is a run of letters and
    /// digits, so punctuation and spaces between words are stepped over.
    private func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber }

    /// Where Alt-B goes: the start of this word, or of the previous one.
    private var previousWordStart: Int {
        var i = cursor
        while i > 0 && !isWordCharacter(chars[i - 1]) { i -= 1 }
        while i > 0 && isWordCharacter(chars[i - 1]) { i -= 1 }
        return i
    }

    /// Where Alt-F goes: the end of this word, or of the next one.
    private var nextWordEnd: Int {
        var i = cursor
        while i < chars.count && !isWordCharacter(chars[i]) { i += 1 }
        while i < chars.count && isWordCharacter(chars[i]) { i += 1 }
        return i
    }

    mutating func wordLeft() { cursor = previousWordStart }
    mutating func wordRight() { cursor = nextWordEnd }

    /// Alt-Backspace: delete from the start of the word (as Alt-B) to the cursor.
    mutating func deleteWordBefore() {
        let start = previousWordStart
        chars.removeSubrange(start..<cursor); cursor = start
    }

    /// Alt-D: delete from the cursor to the end of the word (as Alt-F).
    mutating func deleteWordAfter() {
        chars.removeSubrange(cursor..<nextWordEnd)
    }

    /// Ctrl-W: delete the word before the cursor (and the spaces after it).
    mutating func deleteWordBackward() {
        var i = cursor
        while i > 0 && chars[i - 1].isWhitespace && chars[i - 1] != "\n" { i -= 1 }
        while i > 0 && !chars[i - 1].isWhitespace { i -= 1 }
        if i == cursor && i > 0 { i -= 1 }  // only a newline before: delete it
        chars.removeSubrange(i..<cursor); cursor = i
    }

    /// Up/Down move between lines of a multi-line input; on the first (last) line
    /// they walk the history instead. Returns true when the key was used.
    mutating func up() {
        let start = lineStart
        if start == 0 { historyBack(); return }
        let col = cursor - start
        var prevStart = start - 1
        while prevStart > 0 && chars[prevStart - 1] != "\n" { prevStart -= 1 }
        cursor = min(prevStart + col, start - 1)
    }

    mutating func down() {
        let end = lineEnd
        if end == chars.count { historyForward(); return }
        let col = cursor - lineStart
        var nextEnd = end + 1
        while nextEnd < chars.count && chars[nextEnd] != "\n" { nextEnd += 1 }
        cursor = min(end + 1 + col, nextEnd)
    }

    private mutating func historyBack() {
        guard !history.isEmpty else { return }
        if historyIndex == nil { draft = chars; historyIndex = history.count }
        guard let i = historyIndex, i > 0 else { return }
        historyIndex = i - 1
        chars = Array(history[i - 1]); cursor = chars.count
    }

    private mutating func historyForward() {
        guard let i = historyIndex else { return }
        if i + 1 < history.count {
            historyIndex = i + 1; chars = Array(history[i + 1])
        } else {
            historyIndex = nil; chars = draft
        }
        cursor = chars.count
    }

    /// Returns the text and empties the editor, remembering the text in the history.
    mutating func take() -> String {
        let t = text
        if !t.isEmpty && history.last != t { history.append(t) }
        if history.count > InputHistory.limit { history.removeFirst(history.count - InputHistory.limit) }
        chars = []; cursor = 0; historyIndex = nil; draft = []
        return t
    }

    /// Starts the history from entries saved by earlier runs (oldest first).
    mutating func setHistory(_ entries: [String]) {
        history = Array(entries.suffix(InputHistory.limit)); historyIndex = nil
    }

    /// Puts `text` in the editor, cursor at the end (/edit, an accepted history search).
    mutating func replace(with text: String) {
        chars = Array(text); cursor = chars.count; historyIndex = nil
    }

    mutating func clear() { chars = []; cursor = 0; historyIndex = nil }

    /// The buffer wrapped to `width` columns (hard wraps, so each cluster has one
    /// place), and the cursor's row and column in it.
    func layout(width: Int) -> (rows: [String], cursorRow: Int, cursorColumn: Int) {
        let width = max(1, width)
        var rows: [String] = []
        var cur = ""
        var w = 0
        var crow = 0, ccol = 0
        for (i, ch) in chars.enumerated() {
            if ch == "\n" {
                if i == cursor { crow = rows.count; ccol = w }
                rows.append(cur); cur = ""; w = 0
                continue
            }
            let cw = TextWidth.of(ch)
            if w + cw > width && !cur.isEmpty { rows.append(cur); cur = ""; w = 0 }
            if i == cursor { crow = rows.count; ccol = w }
            cur.append(ch); w += cw
        }
        if cursor >= chars.count {
            if w >= width { rows.append(cur); cur = ""; w = 0 }
            crow = rows.count; ccol = w
        }
        rows.append(cur)
        return (rows, crow, ccol)
    }

    static let prompt = "› "

    /// Rows the editor wants at this width (the layout caps it).
    func preferredRows(width: Int) -> Int { min(8, layout(width: width - 2).rows.count) }

    /// Draws the visible rows (those around the cursor) and returns the cursor's
    /// screen position.
    func render(into canvas: inout Canvas, rect: Rect, placeholder: String) -> (x: Int, y: Int)? {
        guard !rect.isEmpty else { return nil }
        canvas.fill(rect, role: .input)
        let textWidth = max(1, rect.width - 2)
        let l = layout(width: textWidth)
        let first = max(0, min(l.cursorRow - rect.height + 1, l.rows.count - rect.height))
        for r in 0..<rect.height where first + r < l.rows.count {
            canvas.put(r == 0 && first == 0 ? InputEditor.prompt : "  ", x: rect.x, y: rect.y + r, role: .accent, clip: rect)
            canvas.put(l.rows[first + r], x: rect.x + 2, y: rect.y + r, role: .input, clip: rect)
        }
        if chars.isEmpty { canvas.put(placeholder, x: rect.x + 2, y: rect.y, role: .dim, clip: rect) }
        let x = min(rect.maxX - 1, rect.x + 2 + l.cursorColumn)
        return (x, rect.y + l.cursorRow - first)
    }
}
