/// Byte-level cleaning of untrusted text for a terminal or an HTML page. Works on the
/// UTF-8 bytes (never per Character), so a 50 MB message is cleaned at memory speed, and
/// text that needs no change (the usual case) is returned as it is after one scan.
///
/// Control characters are C0 (< 0x20), DEL (0x7F) and C1 (U+0080...U+009F, in UTF-8
/// 0xC2 0x80...0x9F). Newline and tab are kept; carriage return is dropped (a bare CR
/// would let text overwrite the start of its own line); every other control character
/// becomes U+FFFD, so an escape sequence cannot drive the reader's terminal.
enum TerminalSafeText {
    private static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
    private static let amp = Array("&amp;".utf8), lt = Array("&lt;".utf8), gt = Array("&gt;".utf8),
        quot = Array("&quot;".utf8), apos = Array("&#39;".utf8)

    /// The text with control characters other than newline and tab replaced.
    static func clean(_ text: String) -> String {
        var s = text
        let cleaned: String? = s.withUTF8 { b in
            guard b.indices.contains(where: { isControlStart(b, $0) }) else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(b.count + 16)
            var i = 0
            while i < b.count {
                let c = b[i]
                if c == 0x0A || c == 0x09 {
                    out.append(c)
                } else if c == 0x0D {
                    // dropped
                } else if c < 0x20 || c == 0x7F {
                    out.append(contentsOf: replacement)
                } else if c == 0xC2, i + 1 < b.count, (0x80...0x9F).contains(b[i + 1]) {
                    out.append(contentsOf: replacement)
                    i += 1
                } else {
                    out.append(c)
                }
                i += 1
            }
            return String(decoding: out, as: UTF8.self)
        }
        return cleaned ?? s
    }

    /// HTML text (and attribute value) escaping: `& < > " '` become entities and control
    /// characters are cleaned as in `clean`.
    static func html(_ text: String) -> String {
        var s = text
        return s.withUTF8 { b in
            var out: [UInt8] = []
            out.reserveCapacity(b.count + b.count / 16 + 16)
            var i = 0
            while i < b.count {
                let c = b[i]
                switch c {
                case UInt8(ascii: "&"): out.append(contentsOf: amp)
                case UInt8(ascii: "<"): out.append(contentsOf: lt)
                case UInt8(ascii: ">"): out.append(contentsOf: gt)
                case UInt8(ascii: "\""): out.append(contentsOf: quot)
                case UInt8(ascii: "'"): out.append(contentsOf: apos)
                case 0x0A, 0x09: out.append(c)
                case 0x0D: break
                default:
                    if c < 0x20 || c == 0x7F {
                        out.append(contentsOf: replacement)
                    } else if c == 0xC2, i + 1 < b.count, (0x80...0x9F).contains(b[i + 1]) {
                        out.append(contentsOf: replacement)
                        i += 1
                    } else {
                        out.append(c)
                    }
                }
                i += 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Whether a control character (other than newline and tab) starts at byte `i`.
    @inline(__always)
    private static func isControlStart(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        let c = b[i]
        if c < 0x20 { return c != 0x0A && c != 0x09 }
        if c == 0x7F { return true }
        return c == 0xC2 && i + 1 < b.count && (0x80...0x9F).contains(b[i + 1])
    }
}
