/// F1 / `?` / `/help`: the keys and the slash commands. The list is longer than a
/// 24-row window, so it scrolls (Up/Down, PgUp/PgDn, wheel); any other key closes it.
enum HelpOverlay {
    static var lines: [(String, String)] {
        Keymap.help + [("", "")] + SlashCommands.usage
    }

    static func box(screen: Rect) -> Rect {
        Layout.overlay(width: screen.width, height: screen.height, maxWidth: 78, maxHeight: lines.count + 3)
    }

    /// The most the list can scroll in this window (0 when it fits).
    static func maxScroll(screen: Rect) -> Int { max(0, lines.count - box(screen: screen).inset(1).height) }

    /// Rows a key scrolls the help by; nil for keys that close it.
    static func scrollStep(_ key: Key) -> Int? {
        switch key {
        case .wheelUp: return -Keymap.wheelRows
        case .wheelDown: return Keymap.wheelRows
        default: return ListNavigation.step(key)
        }
    }

    static func render(into canvas: inout Canvas, screen: Rect, scroll: Int = 0) {
        let box = box(screen: screen)
        guard !box.isEmpty else { return }
        let top = max(0, min(scroll, maxScroll(screen: screen)))
        canvas.box(box, title: maxScroll(screen: screen) > 0 ? "help — ↑↓ PgUp PgDn scroll · any other key closes" : "help — any key closes")
        let inner = box.inset(1)
        let keyWidth = 24
        for (i, l) in lines.dropFirst(top).enumerated() where i < inner.height {
            canvas.put(l.0, x: inner.x + 1, y: inner.y + i, role: .accent, clip: inner)
            canvas.put(l.1, x: inner.x + 1 + keyWidth, y: inner.y + i, role: .normal, clip: inner)
        }
    }
}
