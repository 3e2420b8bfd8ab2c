import Inference

/// The model list (F2, /model): what is in the models directory, with the facts
/// that matter when choosing. Enter switches; the conversation is kept.
struct ModelPicker {
    var models: [ModelInfo]
    var selected = 0
    var current: String?

    init(models: [ModelInfo], current: String?) {
        self.models = models; self.current = current
        selected = models.firstIndex { $0.name == current } ?? 0
    }

    mutating func move(_ d: Int) { selected = ListNavigation.moved(selected, by: d, count: models.count) }

    var choice: ModelInfo? { models.indices.contains(selected) ? models[selected] : nil }

    static func count(_ n: Int) -> String {
        n >= 1_000_000_000 ? String(format: "%.1fB", Double(n) / 1e9) : String(format: "%.0fM", Double(n) / 1e6)
    }
    static func bytes(_ n: Int) -> String {
        n >= 1 << 30 ? String(format: "%.1f GB", Double(n) / Double(1 << 30)) : String(format: "%.0f MB", Double(n) / Double(1 << 20))
    }

    static let header = ["name", "arch", "params", "quant", "size", "context", "format"]

    /// "format": the chat format its files call for (markup name, or "dialogue" for a base model).
    static func columns(_ m: ModelInfo) -> [String] {
        if m.format == RemoteModels.format {
            // No weights here: the endpoint's model, or an endpoint that did not answer.
            return [
                m.name, m.architecture, "–", "–", "–", m.contextLength > 0 ? String(m.contextLength) : "–",
                m.architecture == "unreachable" ? "–" : "server"
            ]
        }
        return [
            m.name, m.architecture, count(m.parameterCount), m.quantization, bytes(m.fileSize), String(m.contextLength),
            m.chatFormatLabel
        ]
    }

    func render(into canvas: inout Canvas, screen: Rect) {
        let box = Layout.overlay(width: screen.width, height: screen.height, maxWidth: 110, maxHeight: models.count + 6)
        guard !box.isEmpty else { return }
        canvas.box(box, title: "models — Enter switch, Esc close")
        let inner = box.inset(1)
        guard !inner.isEmpty else { return }
        let widths = [max(12, inner.width - 2 - 10 - 8 - 9 - 9 - 8 - 10), 10, 8, 9, 9, 8, 10]
        func line(_ cols: [String]) -> String {
            zip(cols, widths).map { TextWidth.pad($0, to: $1 - 1) + " " }.joined()
        }
        canvas.put("  " + line(ModelPicker.header), x: inner.x, y: inner.y, role: .title, clip: inner)
        if models.isEmpty {
            canvas.put("no models in the models directory", x: inner.x + 2, y: inner.y + 2, role: .dim, clip: inner)
            return
        }
        let visible = max(1, inner.height - 1)
        let first = max(0, min(selected - visible + 1, models.count - visible))
        for row in 0..<visible where first + row < models.count {
            let i = first + row
            let m = models[i]
            let mark = m.name == current ? "● " : "  "
            let role: StyleRole = i == selected ? .selected : .normal
            if i == selected { canvas.fill(Rect(x: inner.x, y: inner.y + 1 + row, width: inner.width, height: 1), role: .selected) }
            canvas.put(mark + line(ModelPicker.columns(m)), x: inner.x, y: inner.y + 1 + row, role: role, clip: inner)
        }
    }
}
