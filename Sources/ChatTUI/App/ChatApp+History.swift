import Foundation

/// The input history across runs, and the Ctrl-R search over it.
extension ChatApp {
    /// Loads the saved history into the editor; returns a notice when the file was
    /// unreadable or partly corrupt (the chat goes on without those entries).
    func loadInputHistory() -> String? {
        let (history, notice) = InputHistory.load(from: InputHistory.defaultURL())
        inputHistory = history
        editor.setHistory(history.entries)
        return notice
    }

    /// Empties the editor and records what it held, in memory and in the history file.
    func takeInput() -> String {
        let text = editor.take()
        if let n = inputHistory?.append(text) { say(n, error: true) }
        return text
    }

    /// The editor as drawn: while searching, the entry found (or the input as it was).
    var shownEditor: InputEditor {
        guard let s = historySearch, let found = s.accepted else { return editor }
        return InputEditor(text: found)
    }

    /// Keys during a Ctrl-R search: text and Backspace edit the query, Ctrl-R / Ctrl-S
    /// step older / newer, Enter or Right take the entry into the editor, Esc, Ctrl-G
    /// or Ctrl-C leave the input as it was. Any other key takes the entry and then does
    /// what it always does (readline's rule), so Ctrl-A or Left start editing it.
    func handleHistorySearch(_ key: Key) {
        guard var s = historySearch else { return }
        switch key {
        case .text(let t): s.type(t)
        case .paste(let t): s.type(t.replacingOccurrences(of: "\n", with: " "))
        case .backspace: s.backspace()
        case .ctrl("r"): s.older()
        case .ctrl("s"): s.newer()
        case .escape, .ctrl("g"), .ctrl("c"):
            historySearch = nil
            return
        case .enter, .right:
            historySearch = nil
            if let found = s.accepted { editor.replace(with: found) }
            return
        default:
            historySearch = nil
            if let found = s.accepted { editor.replace(with: found) }
            handle(key)
            return
        }
        historySearch = s
    }
}
