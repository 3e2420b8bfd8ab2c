/// What a piece of the screen means; the theme decides how it looks.
enum StyleRole: String, CaseIterable, Codable, Sendable {
    case normal, dim, title, status, notice, error
    case user, assistant, system, meta, code, interrupted
    case border, selected, input, cursorLine
    case barHigh, barMid, barLow, accent
    // Markdown in replies (a theme without them gets a look derived from older roles).
    case heading, strong, emphasis, inlineCode, quote, link
}

/// One screen cell: a grapheme cluster (`""` marks the right half of a wide one).
struct Cell: Equatable, Sendable {
    var text: String = " "
    var role: StyleRole = .normal
}

struct Rect: Equatable, Sendable {
    var x: Int, y: Int, width: Int, height: Int
    init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height)
    }
    var maxX: Int { x + width }
    var maxY: Int { y + height }
    var isEmpty: Bool { width <= 0 || height <= 0 }
    func inset(_ d: Int) -> Rect { Rect(x: x + d, y: y + d, width: width - 2 * d, height: height - 2 * d) }
}

/// A grid of cells that views draw into. Pure Swift, so views are testable without a
/// terminal; `Terminal` copies it to the screen. Every write is clipped, so no view
/// can draw outside the grid whatever the window size.
struct Canvas: Sendable {
    let width: Int, height: Int
    private(set) var cells: [Cell]

    init(width: Int, height: Int) {
        self.width = max(0, width); self.height = max(0, height)
        cells = Array(repeating: Cell(), count: self.width * self.height)
    }

    subscript(x: Int, y: Int) -> Cell {
        guard x >= 0, y >= 0, x < width, y < height else { return Cell() }
        return cells[y * width + x]
    }

    var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    mutating func fill(_ r: Rect, role: StyleRole, char: String = " ") {
        let r = clip(r, to: bounds)
        guard !r.isEmpty else { return }
        for y in r.y..<r.maxY { for x in r.x..<r.maxX { cells[y * width + x] = Cell(text: char, role: role) } }
    }

    /// Writes `s` at (x, y) without wrapping, clipped to `clip` (default: the whole
    /// canvas). Returns the column after the text. Wide characters that would straddle
    /// the clip edge become a space; controls become `?`.
    @discardableResult
    mutating func put(_ s: String, x: Int, y: Int, role: StyleRole, clip: Rect? = nil) -> Int {
        let c = self.clip(clip ?? bounds, to: bounds)
        guard y >= c.y, y < c.maxY else { return x + TextWidth.of(s) }
        var col = x
        for ch in s {
            let w = TextWidth.of(ch)
            if w == 0 { continue }
            if col >= c.maxX { break }
            if col >= c.x {
                if col + w > c.maxX {
                    cells[y * width + col] = Cell(text: " ", role: role)
                } else {
                    let text = TextWidth.isUnprintable(ch) ? "?" : String(ch)
                    // Overwriting half of an earlier wide character blanks its other half.
                    if cells[y * width + col].text.isEmpty && col > 0 { cells[y * width + col - 1].text = " " }
                    cells[y * width + col] = Cell(text: text, role: role)
                    if w == 2 { cells[y * width + col + 1] = Cell(text: "", role: role) }
                    if col + w < width && cells[y * width + col + w].text.isEmpty { cells[y * width + col + w].text = " " }
                }
            }
            col += w
        }
        return col
    }

    /// A single-line frame with an optional title in the top edge.
    mutating func box(_ r: Rect, title: String = "", role: StyleRole = .border) {
        guard r.width >= 2, r.height >= 2 else { fill(r, role: role); return }
        fill(r, role: .normal)
        put("┌" + String(repeating: "─", count: r.width - 2) + "┐", x: r.x, y: r.y, role: role)
        for y in (r.y + 1)..<(r.maxY - 1) {
            put("│", x: r.x, y: y, role: role)
            put("│", x: r.maxX - 1, y: y, role: role)
        }
        put("└" + String(repeating: "─", count: r.width - 2) + "┘", x: r.x, y: r.maxY - 1, role: role)
        if !title.isEmpty && r.width > 4 {
            put(" " + TextWidth.truncate(title, to: r.width - 4) + " ", x: r.x + 1, y: r.y, role: .title)
        }
    }

    /// The text of row `y` (wide characters once), for tests and debugging.
    func row(_ y: Int) -> String {
        guard y >= 0, y < height else { return "" }
        return (0..<width).map { cells[y * width + $0].text }.joined()
    }

    private func clip(_ r: Rect, to b: Rect) -> Rect {
        let x0 = max(r.x, b.x), y0 = max(r.y, b.y)
        return Rect(x: x0, y: y0, width: min(r.maxX, b.maxX) - x0, height: min(r.maxY, b.maxY) - y0)
    }
}
