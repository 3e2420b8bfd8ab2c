import Foundation

/// A single self-contained HTML page: inline CSS, no scripts, no external resources, and a
/// Content-Security-Policy that forbids loading or running anything, so a transcript
/// holding hostile text is safe to open. Every piece of session text goes through
/// `escape`, attribute values included.
enum HTMLExport {
    static func render(_ c: Conversation) -> String {
        let title = escape(DisplayText.singleLine(c.title))
        var out = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="SparkChat">
        <title>\(title)</title>
        <style>\(style)</style>
        </head>
        <body>
        <main>
        <header class="session">
        <h1>\(title)</h1>
        <dl>

        """
        for (k, v) in TranscriptWords.summary(c) { out += "<dt>\(escape(k))</dt><dd>\(escape(v))</dd>\n" }
        out += "</dl>\n</header>\n"
        if let s = c.systemPrompt, !s.isEmpty {
            out += "<section class=\"system\">\n<h2>System prompt</h2>\n\(body(s))</section>\n"
        }
        for (i, m) in c.messages.enumerated() {
            out += "<article class=\"message \(m.role.rawValue)\" id=\"m\(i + 1)\">\n"
            out += "<header><span class=\"who\">\(escape(TranscriptWords.speaker(m)))</span> "
            out += "<time datetime=\"\(CivilTime(m.time).htmlDatetime)\">\(escape(TranscriptWords.time(m.time)))</time>"
            if m.interrupted { out += " <span class=\"interrupted\">interrupted</span>" }
            out += "</header>\n" + body(m.text)
            if let s = m.stats { out += "<footer class=\"stats\">\(escape(TranscriptWords.stats(s)))</footer>\n" }
            out += "</article>\n"
        }
        out += "</main>\n</body>\n</html>\n"
        return out
    }

    /// Prose keeps its line breaks (CSS `pre-wrap`); fenced code becomes `<pre><code>`.
    static func body(_ text: String) -> String {
        var out = ""
        for block in TextBlock.split(text) {
            switch block {
            case .prose(let p):
                let trimmed = p.trimmingCharacters(in: .newlines)
                if !trimmed.isEmpty { out += "<div class=\"text\">\(inlineCode(trimmed))</div>\n" }
            case .code(let language, let code, _, _):
                let lang = language.unicodeScalars.filter {
                    ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "+#_.-".unicodeScalars.contains($0)
                }
                let cls = lang.isEmpty ? "" : " class=\"language-\(String(String.UnicodeScalarView(lang)))\""
                let label = lang.isEmpty ? "" : "<span class=\"lang\">\(String(String.UnicodeScalarView(lang)))</span>"
                out += "<pre>\(label)<code\(cls)>\(escape(code))</code></pre>\n"
            }
        }
        return out
    }

    /// Prose with Markdown code spans (`x`, ``a`b``) shown as `<code>`; everything escaped.
    static func inlineCode(_ text: String) -> String {
        let chars = Array(text)
        var out = ""
        var plain = ""
        var i = 0
        while i < chars.count {
            guard chars[i] == "`" else { plain.append(chars[i]); i += 1; continue }
            var n = 0
            while i + n < chars.count, chars[i + n] == "`" { n += 1 }
            // Find a closing run of exactly n backticks.
            var j = i + n
            var close: Int?
            while j < chars.count {
                if chars[j] == "`" {
                    var m = 0
                    while j + m < chars.count, chars[j + m] == "`" { m += 1 }
                    if m == n { close = j; break }
                    j += m
                } else {
                    j += 1
                }
            }
            guard let end = close else { plain += String(chars[i..<(i + n)]); i += n; continue }
            out += escape(plain) + "<code>" + escape(String(chars[(i + n)..<end])) + "</code>"
            plain = ""
            i = end + n
        }
        return out + escape(plain)
    }

    /// Escapes the five HTML-significant characters; control characters other than
    /// newline and tab (not allowed in HTML text) become U+FFFD.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(u)
            case "\r": continue
            default:
                out.unicodeScalars.append(DisplayText.isControl(u) ? "\u{FFFD}" : u)
            }
        }
        return out
    }

    static let style = """

    :root { color-scheme: light dark; --bg: #fbfbf8; --fg: #1d1f21; --muted: #6a6f75; --user: #e8f0fe;
            --assistant: #ffffff; --system: #fff8e1; --border: #d9dce0; --code: #f3f4f6; }
    @media (prefers-color-scheme: dark) {
      :root { --bg: #16181b; --fg: #e6e6e3; --muted: #9aa0a6; --user: #1f2a3a; --assistant: #1d2024;
              --system: #2c2818; --border: #33373c; --code: #0f1113; }
    }
    body { margin: 0; background: var(--bg); color: var(--fg);
           font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    main { max-width: 46rem; margin: 0 auto; padding: 2rem 1rem 4rem; }
    h1 { font-size: 1.6rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
    h2 { font-size: 1rem; margin: 0 0 .5rem; }
    dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; color: var(--muted);
         font-size: .9rem; margin: 0 0 1.5rem; }
    dd { margin: 0; overflow-wrap: anywhere; }
    article, section.system { border: 1px solid var(--border); border-radius: 10px; padding: .75rem 1rem;
                              margin: 0 0 1rem; }
    article.user { background: var(--user); }
    article.assistant { background: var(--assistant); }
    article.system, section.system { background: var(--system); }
    article > header { font-size: .85rem; color: var(--muted); margin-bottom: .4rem; }
    .who { font-weight: 600; color: var(--fg); }
    .interrupted { color: #c0392b; font-style: italic; }
    .text { white-space: pre-wrap; overflow-wrap: anywhere; margin: .4rem 0; }
    pre { background: var(--code); border: 1px solid var(--border); border-radius: 6px; padding: .6rem .8rem;
          overflow-x: auto; position: relative; }
    pre .lang { position: absolute; top: .2rem; right: .5rem; font-size: .75rem; color: var(--muted); }
    code { font: .9rem/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
    .text code { background: var(--code); border-radius: 4px; padding: 0 .25rem; }
    footer.stats { font-size: .8rem; color: var(--muted); margin-top: .4rem; }

    """
}
