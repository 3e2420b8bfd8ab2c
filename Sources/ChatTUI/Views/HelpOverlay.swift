/// F1 / `?` / `/help`: the keys and the slash commands.
enum HelpOverlay {
    static var lines: [(String, String)] {
        Keymap.help + [("", "")] + SlashCommands.usage
    }

    static func render(into canvas: inout Canvas, screen: Rect) {
        let box = Layout.overlay(width: screen.width, height: screen.height, maxWidth: 78, maxHeight: lines.count + 3)
        guard !box.isEmpty else { return }
        canvas.box(box, title: "help — any key closes")
        let inner = box.inset(1)
        let keyWidth = 24
        for (i, l) in lines.enumerated() where i < inner.height {
            canvas.put(l.0, x: inner.x + 1, y: inner.y + i, role: .accent, clip: inner)
            canvas.put(l.1, x: inner.x + 1 + keyWidth, y: inner.y + i, role: .normal, clip: inner)
        }
    }
}
