/// The layout of a reply that is still growing at its end. Laying out the whole reply on
/// every token would cost more the longer it gets; this keeps the rows of its finished
/// part and redoes only what follows the last point where nothing later can change them.
///
/// Such a point is the start of a line that follows a blank line outside a code fence,
/// sits at the left margin and is not a list item: no block spans it (paragraphs,
/// quotes and tables end at the blank line, and a list's nesting cannot reach past an
/// unindented line), so the text before it parses the same on its own. The result is
/// exactly `MarkdownLayout.lines` of the whole text (tested by streaming a reply a
/// character at a time).
final class MarkdownStreamLayout {
    private var width = -1
    private var stable = ""  // text laid out for good
    private var stableLines: [TranscriptLine] = []

    func lines(_ text: String, width: Int) -> [TranscriptLine] {
        if width != self.width || !text.utf8.starts(with: stable.utf8) {
            self.width = width
            stable = ""
            stableLines = []
        }
        let restStart = text.utf8.index(text.startIndex, offsetBy: stable.utf8.count)
        if let split = MarkdownStreamLayout.lastSplit(in: text[restStart...]), split > restStart {
            stableLines += MarkdownLayout.lines(String(text[restStart..<split]), width: width)
            stable = String(text[..<split])
        }
        let tail = text[text.utf8.index(text.startIndex, offsetBy: stable.utf8.count)...]
        return stableLines + MarkdownLayout.lines(String(tail), width: width)
    }

    /// The last split point in `text` (which starts outside any fence), if there is one.
    static func lastSplit(in text: Substring) -> String.Index? {
        var split: String.Index? = nil
        var fence: MarkdownCodeBlocks.Fence? = nil
        var previousBlank = false
        var lineStart = text.startIndex
        while lineStart < text.endIndex {
            let lineEnd = text[lineStart...].firstIndex(of: "\n") ?? text.endIndex
            // A line is only judged once it is complete: its end may still be streaming in.
            guard lineEnd < text.endIndex else { break }
            let line = text[lineStart..<lineEnd]
            if let f = fence {
                if MarkdownCodeBlocks.closes(line, f) { fence = nil }
                previousBlank = false
            } else {
                if previousBlank, let first = line.first, first != " ", first != "\t", first != "\r",
                    MarkdownBlocks.listMarker(line) == nil
                {
                    split = lineStart
                }
                fence = MarkdownCodeBlocks.opening(line)
                previousBlank = line.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
            }
            lineStart = text.index(after: lineEnd)
        }
        return split
    }
}
