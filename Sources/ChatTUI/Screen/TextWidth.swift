import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// libc's wcwidth (Glibc's Swift module hides it behind _XOPEN_SOURCE).
@_silgen_name("wcwidth") private func c_wcwidth(_ c: wchar_t) -> Int32

/// Terminal column widths of text, as the terminal will draw it (wcwidth), per
/// grapheme cluster: CJK and emoji take two columns, combining marks none.
enum TextWidth {
    /// wcwidth answers only under a UTF-8 locale: use the user's, else C.UTF-8.
    /// Called once at start-up (and by tests) before any width is measured.
    static func ensureUTF8Locale() {
        setlocale(LC_ALL, "")
        if let cs = nl_langinfo(nl_item(CODESET)), String(cString: cs).uppercased().replacingOccurrences(of: "-", with: "") == "UTF8" { return }
        if setlocale(LC_CTYPE, "C.UTF-8") == nil { _ = setlocale(LC_CTYPE, "en_US.UTF-8") }
    }

    /// Columns of one grapheme cluster: 0 (nothing to draw), 1 or 2.
    /// Control and unprintable characters count as 1: `Canvas` draws them as `?`.
    static func of(_ c: Character) -> Int {
        let scalars = c.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if first.value < 0x20 || (0x7f..<0xa0).contains(first.value) { return 1 }
        if first.value < 0x7f { return 1 }  // ASCII fast path
        var w = Int(c_wcwidth(wchar_t(bitPattern: first.value)))
        if w < 0 { return 1 }
        // An emoji presentation selector or a regional-indicator pair makes the cluster wide.
        if w < 2 && scalars.contains(where: { $0.value == 0xFE0F || (0x1F1E6...0x1F1FF).contains($0.value) }) && scalars.count > 1 { w = 2 }
        return w
    }

    static func of(_ s: String) -> Int { s.reduce(0) { $0 + of($1) } }

    /// Whether the cluster must be replaced by `?` on screen (controls, unprintables).
    static func isUnprintable(_ c: Character) -> Bool {
        guard let first = c.unicodeScalars.first else { return true }
        if first.value < 0x20 || (0x7f..<0xa0).contains(first.value) { return true }
        if first.value < 0x7f { return false }
        return c_wcwidth(wchar_t(bitPattern: first.value)) < 0
    }

    /// The longest prefix of `s` that fits in `columns`, and its width.
    static func prefix(_ s: String, fitting columns: Int) -> (String, Int) {
        var out = ""
        var w = 0
        for c in s {
            let cw = of(c)
            if w + cw > columns { break }
            out.append(c); w += cw
        }
        return (out, w)
    }

    /// `s` cut to `columns` with an ellipsis when it does not fit.
    static func truncate(_ s: String, to columns: Int) -> String {
        guard columns > 0 else { return "" }
        if of(s) <= columns { return s }
        return prefix(s, fitting: columns - 1).0 + "…"
    }

    /// `s` padded with spaces (or cut) to exactly `columns`.
    static func pad(_ s: String, to columns: Int) -> String {
        let t = truncate(s, to: columns)
        return t + String(repeating: " ", count: max(0, columns - of(t)))
    }
}
