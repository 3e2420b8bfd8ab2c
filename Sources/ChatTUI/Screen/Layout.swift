/// Where each part of the chat goes for a window size. Rows are handed out by
/// priority (input, status line, title, separator, then the transcript), so any
/// size, down to 1x1, yields valid (possibly empty) rectangles.
struct Layout: Equatable {
    var title: Rect
    var transcript: Rect
    var stats: Rect?
    var separator: Rect
    var input: Rect
    var status: Rect

    static let statsColumnWidth = 38

    static func compute(width: Int, height: Int, inputLines: Int, showStats: Bool) -> Layout {
        let w = max(0, width), h = max(0, height)
        var remaining = h
        let inputRows = h == 0 ? 0 : min(max(1, inputLines), max(1, h / 3))
        remaining -= inputRows
        let statusRows = remaining >= 1 ? 1 : 0; remaining -= statusRows
        let titleRows = remaining >= 1 ? 1 : 0; remaining -= titleRows
        let sepRows = remaining >= 2 ? 1 : 0; remaining -= sepRows
        let mainRows = max(0, remaining)

        let title = Rect(x: 0, y: 0, width: w, height: titleRows)
        var transcript = Rect(x: 0, y: titleRows, width: w, height: mainRows)
        var stats: Rect? = nil
        if showStats {
            if w >= 72 && mainRows >= 4 {
                let sw = statsColumnWidth
                stats = Rect(x: w - sw, y: transcript.y, width: sw, height: mainRows)
                transcript.width = w - sw
            } else if mainRows >= 14 {
                stats = Rect(x: 0, y: transcript.maxY - 10, width: w, height: 10)
                transcript.height = mainRows - 10
            }
        }
        let separator = Rect(x: 0, y: titleRows + mainRows, width: w, height: sepRows)
        let input = Rect(x: 0, y: separator.maxY, width: w, height: inputRows)
        let status = Rect(x: 0, y: input.maxY, width: w, height: statusRows)
        return Layout(title: title, transcript: transcript, stats: stats, separator: separator, input: input, status: status)
    }

    /// A centred overlay box of at most `w` x `h`, inside the window.
    static func overlay(width: Int, height: Int, maxWidth w: Int, maxHeight h: Int) -> Rect {
        let ow = min(w, width), oh = min(h, height)
        return Rect(x: (width - ow) / 2, y: (height - oh) / 2, width: ow, height: oh)
    }
}
