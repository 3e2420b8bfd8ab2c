import Foundation

/// Splits message text (Markdown as models write it) into prose and fenced code blocks,
/// so exports can keep code verbatim and HTML can show it in `<pre>`.
enum TextBlock: Equatable {
    case prose(String)
    /// `language` is the fence's info word ("" when none), `fence` the opening run of
    /// backticks or tildes; `closed` is false when the text ended inside the block (a
    /// reply cut off mid-code).
    case code(language: String, body: String, fence: String, closed: Bool)

    /// Works on UTF-8 bytes (fences, indents and newlines are ASCII), so a 50 MB reply
    /// splits at memory speed; prose and code are slices of `text`, joined once per block.
    static func split(_ text: String) -> [TextBlock] {
        var blocks: [TextBlock] = []
        let utf8 = text.utf8
        var proseStart: String.Index?  // first line of the prose run in progress
        var proseEnd = text.startIndex  // end of its last line (before the newline)
        var codeStart: String.Index?  // first line of the open code block's body
        var codeEnd = text.startIndex
        var fence: (char: UInt8, count: Int, language: String)?
        func flushProse() {
            if let s = proseStart { blocks.append(.prose(String(text[s..<proseEnd]))); proseStart = nil }
        }
        var lineStart = text.startIndex
        while true {
            let lineEnd = utf8[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? text.endIndex
            let line = utf8[lineStart..<lineEnd]
            let indent = line.prefix { $0 == UInt8(ascii: " ") }.count
            let trimmed = line.dropFirst(indent)
            if let open = fence {
                let run = trimmed.prefix { $0 == open.char }.count
                if indent <= 3, run >= open.count, trimmed.dropFirst(run).allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    let body = codeStart.map { String(text[$0..<codeEnd]) } ?? ""
                    blocks.append(
                        .code(
                            language: open.language, body: body,
                            fence: String(repeating: Character(Unicode.Scalar(open.char)), count: open.count), closed: true))
                    codeStart = nil
                    fence = nil
                } else {
                    if codeStart == nil { codeStart = lineStart }
                    codeEnd = lineEnd
                }
            } else if indent <= 3, let ch = trimmed.first, ch == UInt8(ascii: "`") || ch == UInt8(ascii: "~"),
                case let run = trimmed.prefix(while: { $0 == ch }).count, run >= 3,
                case let info = String(Substring(trimmed.dropFirst(run))).trimmingCharacters(in: .whitespaces),
                !(ch == UInt8(ascii: "`") && info.contains("`"))
            {
                flushProse()
                fence = (ch, run, String(info.split(separator: " ").first ?? ""))
            } else {
                if proseStart == nil { proseStart = lineStart }
                proseEnd = lineEnd
            }
            guard lineEnd < text.endIndex else { break }
            lineStart = utf8.index(after: lineEnd)
        }
        if let open = fence {
            let body = codeStart.map { String(text[$0..<codeEnd]) } ?? ""
            blocks.append(
                .code(
                    language: open.language, body: body,
                    fence: String(repeating: Character(Unicode.Scalar(open.char)), count: open.count), closed: false))
        }
        flushProse()
        return blocks
    }
}
