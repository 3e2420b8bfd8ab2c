import Foundation

/// Splits message text (Markdown as models write it) into prose and fenced code blocks,
/// so exports can keep code verbatim and HTML can show it in `<pre>`.
enum TextBlock: Equatable {
    case prose(String)
    /// `language` is the fence's info word ("" when none), `fence` the opening run of
    /// backticks or tildes; `closed` is false when the text ended inside the block (a
    /// reply cut off mid-code).
    case code(language: String, body: String, fence: String, closed: Bool)

    static func split(_ text: String) -> [TextBlock] {
        var blocks: [TextBlock] = []
        var prose: [Substring] = []
        var code: [Substring] = []
        var fence: (char: Character, count: Int, language: String)?
        func flushProse() {
            if !prose.isEmpty { blocks.append(.prose(prose.joined(separator: "\n"))); prose = [] }
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            let indent = line.count - trimmed.count
            if let open = fence {
                let run = trimmed.prefix { $0 == open.char }
                if indent <= 3, run.count >= open.count, trimmed.dropFirst(run.count).allSatisfy(\.isWhitespace) {
                    blocks.append(.code(language: open.language, body: code.joined(separator: "\n"),
                                        fence: String(repeating: open.char, count: open.count), closed: true))
                    code = []
                    fence = nil
                } else {
                    code.append(line)
                }
                continue
            }
            if indent <= 3, let ch = trimmed.first, ch == "`" || ch == "~" {
                let run = trimmed.prefix { $0 == ch }
                let info = trimmed.dropFirst(run.count).trimmingCharacters(in: .whitespaces)
                if run.count >= 3, !(ch == "`" && info.contains("`")) {
                    flushProse()
                    fence = (ch, run.count, String(info.split(separator: " ").first ?? ""))
                    continue
                }
            }
            prose.append(line)
        }
        if let open = fence {
            blocks.append(.code(language: open.language, body: code.joined(separator: "\n"),
                                fence: String(repeating: open.char, count: open.count), closed: false))
        }
        flushProse()
        return blocks
    }
}
