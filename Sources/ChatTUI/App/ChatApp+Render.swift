import Foundation
import Sessions

/// Draws the whole window into a canvas and hands it to the terminal.
extension ChatApp {
    static let systemPromptID = UUID()

    func render() {
        let w = terminal.width, h = terminal.height
        guard w > 0, h > 0 else { return }
        var canvas = Canvas(width: w, height: h)
        let layout = Layout.compute(width: w, height: h, inputLines: shownEditor.preferredRows(width: w), showStats: showStats)
        let modelLabel = loadingModel.map { "loading \($0)…" } ?? modelInfo?.name ?? "no model"

        canvas.fill(layout.title, role: .status)
        let access = readOnly ? " · read-only" : ""
        canvas.put(
            " SparkChat · \(modelLabel) · \(DisplayText.singleLine(conversation.title))\(access)", x: 0, y: layout.title.y, role: .status, clip: layout.title)
        if isStreaming {
            let tag = " ● generating \(live.tokens) "
            canvas.put(tag, x: w - TextWidth.of(tag), y: layout.title.y, role: .status, clip: layout.title)
        }

        // The system prompt heads the transcript; huge texts are drawn cut (ChatApp+HugeInputs).
        let shown = shownMessages()
        transcript.render(shown, streaming: streamingID, into: &canvas, rect: layout.transcript)
        if let r = layout.stats {
            StatsPanel.render(
                live, model: modelInfo?.name ?? "–", sparsity: sparsityLabel,
                streaming: isStreaming, speculative: conversation.settings.speculative, loadMs: modelLoadMs,
                format: chatFormatName,
                into: &canvas, rect: r)
        }

        if !layout.separator.isEmpty {
            let s = conversation.settings
            let spec = s.speculative.map { " · speculative \($0)" } ?? ""
            let info = "─ temp \(s.temperature) · max \(s.maxTokens) · sparsity \(sparsityLabel)\(spec) · ctx \(live.contextUsed)/\(live.contextLimit) "
            canvas.put(info + String(repeating: "─", count: max(0, w)), x: 0, y: layout.separator.y, role: .border, clip: layout.separator)
        }

        var cursor = shownEditor.render(into: &canvas, rect: layout.input, placeholder: "Type a message · Enter sends · F1 help")

        canvas.fill(layout.status, role: .dim)
        if let s = historySearch {
            canvas.put(s.statusLine, x: 0, y: layout.status.y, role: s.failing ? .error : .notice, clip: layout.status)
        } else if let n = notice {
            canvas.put(" " + n.text, x: 0, y: layout.status.y, role: n.error ? .error : .notice, clip: layout.status)
        } else {
            let hint =
                isStreaming
                ? " Esc stop · PgUp/PgDn scroll · F3 stats · Ctrl-C twice quit"
                : editingMessageID != nil
                    ? " editing your last message · Enter sends it in its place · Esc cancels"
                    : " F1 help · F2 model · F3 stats · F4 sessions · Ctrl-C twice quit"
            canvas.put(hint, x: 0, y: layout.status.y, role: .dim, clip: layout.status)
        }

        let screen = canvas.bounds
        switch overlay {
        case .none: break
        case .help: HelpOverlay.render(into: &canvas, screen: screen, scroll: helpScroll); cursor = nil
        case .picker(let p): p.render(into: &canvas, screen: screen, job: sparkifyJob); cursor = nil
        case .sessions(let l): cursor = l.render(into: &canvas, screen: screen)
        }
        terminal.draw(canvas, cursor: cursor)
    }
}
