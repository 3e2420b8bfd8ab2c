import Foundation
import Sessions

/// The saved sessions (F4, /sessions): n new, Enter open, r rename, d delete.
struct SessionsList {
    enum Mode: Equatable { case browse, rename, confirmDelete }
    var sessions: [SessionSummary]
    var selected = 0
    var current: String
    var mode = Mode.browse
    var renameEditor = InputEditor()

    init(sessions: [SessionSummary], current: String) {
        self.sessions = sessions; self.current = current
        selected = sessions.firstIndex { $0.id == current } ?? 0
    }

    mutating func move(_ d: Int) { selected = ListNavigation.moved(selected, by: d, count: sessions.count) }

    var choice: SessionSummary? { sessions.indices.contains(selected) ? sessions[selected] : nil }

    static let dateFormatter: DateFormatter = {
        let f = DateFormatter(); f.dateFormat = "yyyy-MM-dd HH:mm"; return f
    }()

    func render(into canvas: inout Canvas, screen: Rect) -> (x: Int, y: Int)? {
        let box = Layout.overlay(width: screen.width, height: screen.height, maxWidth: 100, maxHeight: sessions.count + 6)
        guard !box.isEmpty else { return nil }
        let title: String
        switch mode {
        case .browse: title = "sessions — Enter open, n new, r rename, d delete, Esc close"
        case .rename: title = "rename — Enter save, Esc cancel"
        case .confirmDelete: title = "delete \"\(choice?.title ?? "")\"? y / n"
        }
        canvas.box(box, title: title)
        let inner = box.inset(1)
        guard !inner.isEmpty else { return nil }
        if sessions.isEmpty {
            canvas.put("no saved sessions yet", x: inner.x + 2, y: inner.y, role: .dim, clip: inner)
            return nil
        }
        var cursor: (x: Int, y: Int)? = nil
        let visible = inner.height
        let first = max(0, min(selected - visible + 1, sessions.count - visible))
        for row in 0..<visible where first + row < sessions.count {
            let i = first + row
            let s = sessions[i]
            let y = inner.y + row
            let role: StyleRole = i == selected ? .selected : .normal
            if i == selected { canvas.fill(Rect(x: inner.x, y: y, width: inner.width, height: 1), role: .selected) }
            let mark = s.id == current ? "● " : "  "
            let right = " \(s.messageCount) msg  \(SessionsList.dateFormatter.string(from: s.updated))  \(s.id)"
            let titleWidth = max(4, inner.width - 2 - TextWidth.of(right))
            if i == selected && mode == .rename {
                canvas.put(mark, x: inner.x, y: y, role: role, clip: inner)
                let r = Rect(x: inner.x + 2, y: y, width: titleWidth, height: 1)
                let shown = renameEditor.layout(width: max(1, titleWidth - 1))
                canvas.put(shown.rows.last ?? "", x: r.x, y: y, role: .input, clip: r)
                cursor = (r.x + shown.cursorColumn, y)
            } else {
                canvas.put(mark + TextWidth.pad(DisplayText.singleLine(s.title), to: titleWidth), x: inner.x, y: y, role: role, clip: inner)
            }
            canvas.put(right, x: inner.x + 2 + titleWidth, y: y, role: i == selected ? .selected : .dim, clip: inner)
        }
        return cursor
    }
}
