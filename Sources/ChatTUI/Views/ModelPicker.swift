import Inference

/// The model list (F2, /model): what is in the models directory, with the facts
/// that matter when choosing. Enter switches; the conversation is kept. `s` on a dense
/// Gemma asks for a fraction and starts a sparkify fit (SparkifyJob, ChatApp+Sparkify),
/// whose progress the picker draws under the list.
struct ModelPicker {
    var models: [ModelInfo]
    var selected = 0
    var current: String?
    /// The fraction being typed for a sparkify fit of the selected model (nil: not asking).
    var fractionEntry: String?

    /// The fractions ←/→ step through while asking; 0.5 is the default.
    static let fractions = ["0.5", "0.25", "0.1", "0.75"]

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

    static let header = ["name", "arch", "params", "quant", "size", "context", "format", "sparsity"]

    /// A dense Gemma 1/2/3 here (not remote, not already sparse) can be sparkified.
    static func canSparkify(_ m: ModelInfo) -> Bool {
        m.format != RemoteModels.format && m.sparsity == ModelSparsity.dense && m.architecture.hasPrefix("gemma")
    }

    /// ←/→ while asking: the next preset fraction.
    mutating func stepFraction(_ d: Int) {
        let i = ModelPicker.fractions.firstIndex(of: fractionEntry ?? "") ?? 0
        fractionEntry = ModelPicker.fractions[(i + d + ModelPicker.fractions.count) % ModelPicker.fractions.count]
    }

    /// "format": the chat format its files call for (markup name, or "dialogue" for a base model).
    static func columns(_ m: ModelInfo) -> [String] {
        if m.format == RemoteModels.format {
            // No weights here: the endpoint's model, or an endpoint that did not answer.
            return [
                m.name, m.architecture, "–", "–", "–", m.contextLength > 0 ? String(m.contextLength) : "–",
                m.architecture == "unreachable" ? "–" : "server", "–"
            ]
        }
        return [
            m.name, m.architecture, count(m.parameterCount), m.quantization, bytes(m.fileSize), String(m.contextLength),
            m.chatFormatLabel, m.sparsity
        ]
    }

    /// `job`: the sparkify fit in progress (or just ended), drawn under the list.
    func render(into canvas: inout Canvas, screen: Rect, job: SparkifyJob? = nil) {
        let footer = fractionEntry != nil || job != nil ? 2 : 0
        let box = Layout.overlay(width: screen.width, height: screen.height, maxWidth: 118, maxHeight: models.count + 6 + footer)
        guard !box.isEmpty else { return }
        let keys = job != nil ? "Enter switch, Esc cancel fit" : "Enter switch, s sparkify, Esc close"
        canvas.box(box, title: "models — \(keys)")
        var inner = box.inset(1)
        guard !inner.isEmpty else { return }
        if footer > 0, inner.height > footer + 1 {
            inner.height -= footer
            let y = inner.y + inner.height + 1
            let full = Rect(x: inner.x, y: y, width: inner.width, height: 1)
            if let j = job {
                let what = "sparkify \(j.modelName) at \(String(format: "%g", j.fraction)): "
                canvas.put(what + j.progressLine(), x: inner.x + 1, y: y, role: .notice, clip: full)
            } else if let f = fractionEntry, let m = choice {
                canvas.put(
                    "sparkify \(m.name): fraction of FFN neurons kept \(f)▏ ←/→ \(ModelPicker.fractions.joined(separator: " ")) · Enter start · Esc back",
                    x: inner.x + 1, y: y, role: .notice, clip: full)
            }
        }
        let widths = [max(12, inner.width - 2 - 12 - 7 - 7 - 8 - 8 - 13 - 25), 12, 7, 7, 8, 8, 13, 25]
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
