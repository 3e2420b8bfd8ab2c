import Foundation

/// How a piece of inline Markdown text is to be shown.
struct InlineStyle: OptionSet, Hashable, Sendable {
    let rawValue: UInt8
    static let strong = InlineStyle(rawValue: 1)
    static let emphasis = InlineStyle(rawValue: 2)
    static let code = InlineStyle(rawValue: 4)
    static let link = InlineStyle(rawValue: 8)
    static let strike = InlineStyle(rawValue: 16)
    /// A link's target, shown after its text.
    static let url = InlineStyle(rawValue: 32)
}

/// A run of text in one inline style, with the Markdown markers removed.
struct InlineSpan: Equatable, Sendable {
    var text: String
    var style: InlineStyle
}

/// Inline Markdown (CommonMark's rules, simplified where models never go): code spans,
/// `*`/`_` emphasis and strong emphasis by the delimiter-run algorithm, `~~strike~~`,
/// `[links](url)`, `<autolinks>` and backslash escapes. Markers that do not pair up stay
/// as written, so half-streamed text (`**bold` before its closer arrives) reads as typed.
/// Every step is linear in the text (memos stop the searches for closers from repeating),
/// so a huge reply cannot stall the screen.
enum MarkdownInline {
    static func parse(_ text: String) -> [InlineSpan] {
        var p = Parser(Array(text))
        p.scan()
        p.pairDelimiters()
        return p.spans()
    }

    private struct Delimiter {
        var pos: Int  // output index of the run's first char still unused
        var count: Int  // chars of the run still unused
        let original: Int
        let char: Character
        let canOpen: Bool
        let canClose: Bool
    }

    private struct Parser {
        let src: [Character]
        var out: [Character] = []
        var flags: [InlineStyle] = []  // per output char, styles set while scanning (code, link, url)
        var hidden: [Bool] = []  // per output char: a marker used up by emphasis
        var delta: [[Int]] = []  // per style bit (strong, emphasis, strike): +1 at start, -1 at end
        var delims: [Delimiter] = []
        var closeBracket: [Int: Int] = [:]  // src index of `[` → its matching `]`
        var closeParen: [Int: Int] = [:]  // src index of `(` → its matching `)`
        var noBacktickRun: [Int: Int] = [:]  // run length → src index after which no run of that length exists

        init(_ src: [Character]) {
            self.src = src
            matchBrackets()
        }

        /// Pairs `[`/`]` and `(`/`)` in one pass, so finding a link's end never rescans.
        mutating func matchBrackets() {
            var brackets: [Int] = [], parens: [Int] = []
            var i = 0
            while i < src.count {
                switch src[i] {
                case "\\": i += 1
                case "[": brackets.append(i)
                case "]": if let o = brackets.popLast() { closeBracket[o] = i }
                case "(": parens.append(i)
                case ")": if let o = parens.popLast() { closeParen[o] = i }
                default: break
                }
                i += 1
            }
        }

        mutating func emit(_ c: Character, _ f: InlineStyle) {
            out.append(c); flags.append(f); hidden.append(false)
        }

        mutating func emit<S: Sequence>(_ s: S, _ f: InlineStyle) where S.Element == Character {
            for c in s { emit(c, f) }
        }

        func char(_ i: Int) -> Character { i >= 0 && i < src.count ? src[i] : " " }

        /// The end of the backtick run of exactly `n` that closes the one ending at `from`, if any.
        mutating func codeClose(from: Int, n: Int) -> Int? {
            if let none = noBacktickRun[n], from >= none { return nil }
            var j = from
            while j < src.count {
                if src[j] == "`" {
                    var m = 0
                    while j + m < src.count, src[j + m] == "`" { m += 1 }
                    if m == n { return j }
                    j += m
                } else {
                    j += 1
                }
            }
            noBacktickRun[n] = from
            return nil
        }

        mutating func scan() {
            var i = 0
            var linkEnd: Int? = nil  // src index of the `]` ending the link being read
            var linkURL = ""
            var after = 0  // src index to resume at after the link
            var linkStart = 0  // output index of the link text's first char
            while i < src.count {
                let c = src[i]
                let base: InlineStyle = linkEnd == nil ? [] : .link
                if let e = linkEnd, i == e {
                    // The target is shown unless the text already says it.
                    if !linkURL.isEmpty && String(out[linkStart...]) != linkURL { emit(" (" + linkURL + ")", .url) }
                    linkEnd = nil
                    i = after
                    continue
                }
                switch c {
                case "\\" where i + 1 < src.count && isASCIIPunctuation(src[i + 1]):
                    emit(src[i + 1], base); i += 2
                case "`":
                    var n = 0
                    while i + n < src.count, src[i + n] == "`" { n += 1 }
                    if let e = codeClose(from: i + n, n: n) {
                        var body = src[(i + n)..<e]
                        if body.count >= 2, body.first == " ", body.last == " ", body.contains(where: { $0 != " " }) {
                            body = body.dropFirst().dropLast()
                        }
                        emit(body, base.union(.code))
                        i = e + n
                    } else {
                        emit(src[i..<(i + n)], base); i += n
                    }
                case "[" where linkEnd == nil, "!" where linkEnd == nil && char(i + 1) == "[":
                    let open = c == "!" ? i + 1 : i
                    if let close = closeBracket[open], char(close + 1) == "(", let end = closeParen[close + 1] {
                        let target = String(src[(close + 2)..<end]).trimmingCharacters(in: .whitespaces)
                        linkURL = String(target.prefix { $0 != " " }).trimmingCharacters(in: CharacterSet(charactersIn: "<>"))
                        linkEnd = close
                        linkStart = out.count
                        after = end + 1
                        i = open + 1
                    } else {
                        emit(c, base); i += 1
                    }
                case "<":
                    if let (url, end) = autolink(at: i) { emit(url, base.union(.link)); i = end } else { emit(c, base); i += 1 }
                case "*", "_", "~":
                    var n = 0
                    while i + n < src.count, src[i + n] == c { n += 1 }
                    let before = char(i - 1), next = char(i + n)
                    let left = !next.isWhitespace && (!isPunctuation(next) || before.isWhitespace || isPunctuation(before))
                    let right = !before.isWhitespace && (!isPunctuation(before) || next.isWhitespace || isPunctuation(next))
                    var canOpen = left, canClose = right
                    if c == "_" {
                        canOpen = left && (!right || isPunctuation(before))
                        canClose = right && (!left || isPunctuation(next))
                    }
                    if c == "~" && n != 2 { canOpen = false; canClose = false }
                    if canOpen || canClose {
                        delims.append(Delimiter(pos: out.count, count: n, original: n, char: c, canOpen: canOpen, canClose: canClose))
                    }
                    emit(src[i..<(i + n)], base); i += n
                default:
                    emit(c, base); i += 1
                }
            }
        }

        /// `<scheme:...>`: the URL and the index after `>`.
        func autolink(at i: Int) -> (String, Int)? {
            var j = i + 1
            var scheme = 0
            while j < src.count, src[j].isASCII, src[j].isLetter || src[j].isNumber || "+.-".contains(src[j]) { scheme += 1; j += 1 }
            guard (2...32).contains(scheme), char(j) == ":", char(i + 1).isLetter else { return nil }
            while j < src.count, src[j] != ">", src[j] != "<", !src[j].isWhitespace { j += 1 }
            guard j < src.count, src[j] == ">" else { return nil }
            return (String(src[(i + 1)..<j]), j + 1)
        }

        /// CommonMark's "process emphasis": each closer takes the nearest fitting opener.
        /// The delimiters form a linked list; a match unlinks everything between its two
        /// ends and `openersBottom` remembers where a failed search stopped, so no
        /// delimiter is looked at twice.
        mutating func pairDelimiters() {
            delta = Array(repeating: Array(repeating: 0, count: out.count + 1), count: 3)
            var prev = Array(-1..<(delims.count - 1))  // -1: none before
            var next = Array(1..<(delims.count + 1))  // delims.count: none after
            func unlink(_ k: Int) {
                if prev[k] >= 0 { next[prev[k]] = next[k] }
                if next[k] < delims.count { prev[next[k]] = prev[k] }
            }
            var openersBottom: [String: Int] = [:]
            var c = 0
            while c < delims.count {
                let closer = delims[c]
                guard closer.canClose, closer.count > 0 else { c = next[c]; continue }
                let key = "\(closer.char)\(closer.original % 3)\(closer.canOpen)"
                let bottom = openersBottom[key] ?? -1
                var o = prev[c]
                var found: Int? = nil
                while o > bottom {
                    let op = delims[o]
                    if op.canOpen, op.count > 0, op.char == closer.char {
                        let oddMatch =
                            (op.canClose || closer.canOpen) && (op.original + closer.original) % 3 == 0
                            && !(op.original % 3 == 0 && closer.original % 3 == 0)
                        if closer.char == "~" ? op.count == 2 && closer.count == 2 : !oddMatch { found = o; break }
                    }
                    o = prev[o]
                }
                guard let opener = found else {
                    openersBottom[key] = prev[c]
                    let after = next[c]
                    if !closer.canOpen { unlink(c) }
                    c = after
                    continue
                }
                let use = closer.char == "~" ? 2 : (delims[opener].count >= 2 && closer.count >= 2 ? 2 : 1)
                delims[opener].count -= use
                let openEnd = delims[opener].pos + delims[opener].count  // first hidden char of the opener
                for k in openEnd..<(openEnd + use) { hidden[k] = true }
                for k in closer.pos..<(closer.pos + use) { hidden[k] = true }
                let style = closer.char == "~" ? 2 : (use == 2 ? 0 : 1)
                delta[style][openEnd + use] += 1
                delta[style][closer.pos] -= 1
                delims[c].pos += use
                delims[c].count -= use
                next[opener] = c; prev[c] = opener  // what lay between is done with
                if delims[opener].count == 0 { unlink(opener) }
                if delims[c].count == 0 { let after = next[c]; unlink(c); c = after }
            }
        }

        func spans() -> [InlineSpan] {
            var result: [InlineSpan] = []
            var level = [0, 0, 0]
            let bits: [InlineStyle] = [.strong, .emphasis, .strike]
            for k in 0..<out.count {
                for s in 0..<3 { level[s] += delta[s][k] }
                if hidden[k] { continue }
                var f = flags[k]
                for s in 0..<3 where level[s] > 0 { f.insert(bits[s]) }
                if let last = result.last, last.style == f {
                    result[result.count - 1].text.append(out[k])
                } else {
                    result.append(InlineSpan(text: String(out[k]), style: f))
                }
            }
            return result
        }
    }

    static func isASCIIPunctuation(_ c: Character) -> Bool {
        guard let a = c.asciiValue else { return false }
        return (33...47).contains(a) || (58...64).contains(a) || (91...96).contains(a) || (123...126).contains(a)
    }

    static func isPunctuation(_ c: Character) -> Bool {
        c.isPunctuation || c.isSymbol || isASCIIPunctuation(c)
    }
}
