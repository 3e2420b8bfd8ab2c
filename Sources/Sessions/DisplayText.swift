/// Makes stored text safe to print on a terminal or in a one-line field: session files
/// are not trusted, and a title or message holding escape sequences must not be able to
/// drive the user's terminal.
public enum DisplayText {
    /// Control characters (C0, DEL, C1) become spaces, runs of whitespace collapse to one space.
    public static func singleLine(_ s: String) -> String {
        var out = ""
        var pendingSpace = false
        for u in s.unicodeScalars {
            if isControl(u) || u.properties.isWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.unicodeScalars.append(" "); pendingSpace = false }
            out.unicodeScalars.append(u)
        }
        return out
    }

    /// Keeps newlines and tabs, drops carriage returns; every other control character
    /// becomes U+FFFD. Byte-level, so it stays fast on a 50 MB message.
    public static func forTerminal(_ s: String) -> String {
        TerminalSafeText.clean(s)
    }

    /// Cuts to `width` characters, marking the cut with an ellipsis.
    public static func truncate(_ s: String, to width: Int) -> String {
        s.count <= width ? s : String(s.prefix(max(0, width - 1))) + "…"
    }

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7F...0x9F).contains(u.value)
    }
}
