import Foundation
import Sessions

/// Ctrl-R: reverse incremental search over the input history, as in bash/readline.
/// Typing narrows the query and the newest entry holding it is shown; Ctrl-R again
/// looks further back, Ctrl-S forward. The editor is left alone until the match is
/// accepted, so cancelling needs nothing restored.
struct HistorySearch {
    /// The history, oldest first.
    let entries: [String]
    private(set) var query = ""
    /// The entry shown (an index into `entries`), nil before anything matched.
    private(set) var match: Int?
    /// The last step found nothing; the previous match stays shown, as readline does.
    private(set) var failing = false

    init(entries: [String]) { self.entries = entries }

    /// The text Enter puts in the editor; nil when nothing matched.
    var accepted: String? { match.map { entries[$0] } }

    mutating func type(_ s: String) {
        query += s
        // The current match may still hold the longer query: look from it backwards.
        find(from: match ?? entries.count - 1, step: -1, skipping: nil)
    }

    mutating func backspace() {
        guard !query.isEmpty else { return }
        query.removeLast()
        if query.isEmpty { match = nil; failing = false; return }
        match = nil
        find(from: entries.count - 1, step: -1, skipping: nil)
    }

    /// Ctrl-R: the next older entry with the query (an entry equal to the one shown is
    /// skipped, so repeated inputs do not need several presses).
    mutating func older() { find(from: (match ?? entries.count) - 1, step: -1, skipping: accepted) }

    /// Ctrl-S: the next newer one.
    mutating func newer() {
        guard let m = match else { return }
        find(from: m + 1, step: 1, skipping: accepted)
    }

    private mutating func find(from start: Int, step: Int, skipping: String?) {
        var i = start
        while i >= 0 && i < entries.count {
            let e = entries[i]
            if e != skipping && (query.isEmpty || e.range(of: query, options: .caseInsensitive) != nil) {
                match = i; failing = false
                return
            }
            i += step
        }
        failing = true
    }

    /// The footer line while searching.
    var statusLine: String {
        let q = "“\(DisplayText.singleLine(query))”"
        if failing { return " no match for \(q) · Backspace edits the search · Esc cancels" }
        if match == nil { return " search history: type to search · Ctrl-R older · Esc cancels" }
        return " search history: \(q) · Ctrl-R older · Ctrl-S newer · Enter takes it · Esc cancels"
    }
}
