/// Fenced code blocks (``` or ~~~) in message text, by the rule the transcript draws
/// them with, so "code block N" means the N-th box the reader sees.
///
/// Unlike CommonMark, a fence may be indented any amount: models indent fences under
/// list items, and the reader sees those as code too. The fence's own indentation is
/// removed from the lines of its block.
enum MarkdownCodeBlocks {
    /// An opening fence: its character, the length of its run, how far it is indented,
    /// and the info word (the language, "" when none).
    struct Fence: Equatable {
        let char: Character
        let count: Int
        let indent: Int
        let language: String
    }

    /// The code blocks of `text` in order: the fence's language ("" when none) and the
    /// code between the fences. A block the text ends inside of (a reply still streaming
    /// or cut off) runs to the end of the text.
    static func extract(_ text: String) -> [(language: String, code: String)] {
        var blocks: [(language: String, code: String)] = []
        var open: Fence?
        var code: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let f = open {
                if closes(line, f) {
                    blocks.append((f.language, code.joined(separator: "\n")))
                    open = nil; code = []
                } else {
                    code.append(strip(line, indent: f.indent))
                }
            } else if let f = opening(line) {
                open = f
            }
        }
        if let f = open { blocks.append((f.language, code.joined(separator: "\n"))) }
        return blocks
    }

    /// The fence `line` opens, if it is one: three or more backticks or tildes after
    /// spaces; a backtick fence's info may not hold a backtick (that is inline code).
    static func opening(_ line: Substring) -> Fence? {
        let body = line.drop { $0 == " " || $0 == "\t" }
        guard let ch = body.first, ch == "`" || ch == "~" else { return nil }
        let run = body.prefix { $0 == ch }
        guard run.count >= 3 else { return nil }
        let info = body.dropFirst(run.count)
        if ch == "`" && info.contains("`") { return nil }
        let word = info.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first ?? ""
        return Fence(char: ch, count: run.count, indent: line.count - body.count, language: String(word))
    }

    /// Whether `line` closes `fence`: a run of the same character at least as long, and
    /// nothing after it but spaces.
    static func closes(_ line: Substring, _ fence: Fence) -> Bool {
        let body = line.drop { $0 == " " || $0 == "\t" }
        let run = body.prefix { $0 == fence.char }
        return run.count >= fence.count && body.dropFirst(run.count).allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
    }

    /// `line` without up to `indent` leading spaces (a code line's share of the fence's indentation).
    static func strip(_ line: Substring, indent: Int) -> Substring {
        var s = line
        var n = 0
        while n < indent, let c = s.first, c == " " || c == "\t" { s = s.dropFirst(); n += 1 }
        return s
    }
}
