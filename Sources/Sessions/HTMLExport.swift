import CCmarkGFM
import Foundation

/// A single self-contained HTML page: inline CSS, no scripts, no external resources, and a
/// Content-Security-Policy that forbids loading or running anything, so a transcript
/// holding hostile text is safe to open. Every piece of session text goes through
/// `escape`, attribute values included, except message bodies: those are Markdown, made
/// into markup by `MarkdownHTML`, which lets no HTML of their own through.
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

    /// A message's Markdown as HTML (cmark-gfm), in a `<div class="md">`.
    static func body(_ text: String) -> String {
        if text.isEmpty { return "" }
        return "<div class=\"md\">\n" + MarkdownHTML.render(text) + "</div>\n"
    }

    /// Escapes the five HTML-significant characters; control characters other than
    /// newline and tab (not allowed in HTML text) become U+FFFD.
    static func escape(_ s: String) -> String {
        TerminalSafeText.html(s)  // byte-level: the per-scalar loop ran at ~2 MB/s
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
        .md { overflow-wrap: anywhere; margin: .4rem 0; }
        .md > :first-child { margin-top: 0; }
        .md > :last-child { margin-bottom: 0; }
        .md p, .md ul, .md ol, .md blockquote, .md table, .md pre { margin: .5rem 0; }
        .md h1, .md h2, .md h3, .md h4, .md h5, .md h6 { margin: 1rem 0 .4rem; line-height: 1.3; }
        .md h1 { font-size: 1.4rem; } .md h2 { font-size: 1.2rem; } .md h3 { font-size: 1.05rem; }
        .md h4, .md h5, .md h6 { font-size: 1rem; }
        .md ul, .md ol { padding-left: 1.6rem; }
        .md blockquote { margin-left: 0; padding-left: .9rem; border-left: 3px solid var(--border); color: var(--muted); }
        .md hr { border: 0; border-top: 1px solid var(--border); margin: 1rem 0; }
        .md a { color: inherit; }
        .md table { border-collapse: collapse; display: block; max-width: 100%; overflow-x: auto; }
        .md th, .md td { border: 1px solid var(--border); padding: .25rem .6rem; vertical-align: top; }
        .md th { background: var(--code); font-weight: 600; }
        .md del { color: var(--muted); }
        pre { background: var(--code); border: 1px solid var(--border); border-radius: 6px; padding: .6rem .8rem;
              overflow-x: auto; }
        code { font: .9rem/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
        .md :not(pre) > code { background: var(--code); border-radius: 4px; padding: 0 .25rem; }
        footer.stats { font-size: .8rem; color: var(--muted); margin-top: .4rem; }

        """
}

/// libc's memmem (Glibc's Swift module hides it behind _GNU_SOURCE).
@_silgen_name("memmem") private func c_memmem(
    _ haystack: UnsafeRawPointer?, _ haystackLength: Int,
    _ needle: UnsafeRawPointer?, _ needleLength: Int
) -> UnsafeMutableRawPointer?

/// Markdown to HTML through cmark-gfm, with GitHub's tables, strikethrough (`~~`) and
/// autolinks. Nothing in the text can add markup of its own: raw HTML (tags, comments,
/// processing instructions) is turned into text before rendering, so it shows escaped
/// instead of being lost; images become links (the page loads nothing); and cmark's safe
/// mode (no CMARK_OPT_UNSAFE) blanks `javascript:`-style link targets. Line breaks are
/// kept as written, as chat text means them. Linear in the text: one cmark parse, one
/// walk over its nodes, one render.
enum MarkdownHTML {
    private static let options = CMARK_OPT_HARDBREAKS | CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE
    /// Each extension with what a text must hold for it to find anything: the extensions
    /// cost time on every line (autolink most: it scans all text), so one is attached only
    /// when its mark occurs, which leaves the output the same and makes prose 3x faster.
    private static let extensions = [("table", ["|"]), ("strikethrough", ["~~"]), ("autolink", ["://", "www.", "@"])]
    private static let registered: Void = cmark_gfm_core_extensions_ensure_registered()

    static func render(_ text: String) -> String {
        _ = registered
        guard let parser = cmark_parser_new(options) else { return "<p>" + HTMLExport.escape(text) + "</p>\n" }
        defer { cmark_parser_free(parser) }
        // Control characters (an escape sequence in a hostile session) never reach the page.
        var clean = DisplayText.forTerminal(text)
        for (name, marks) in extensions where marks.contains(where: { contains(clean, $0) }) {
            if let ext = cmark_find_syntax_extension(name) { cmark_parser_attach_syntax_extension(parser, ext) }
        }
        clean.withUTF8 { b in
            b.withMemoryRebound(to: CChar.self) { c in if let base = c.baseAddress { cmark_parser_feed(parser, base, c.count) } }
        }
        guard let doc = cmark_parser_finish(parser) else { return "<p>" + HTMLExport.escape(text) + "</p>\n" }
        defer { cmark_node_free(doc) }
        defuse(doc)
        guard let html = cmark_render_html(doc, options, cmark_parser_get_syntax_extensions(parser)) else {
            return "<p>" + HTMLExport.escape(text) + "</p>\n"
        }
        defer { free(html) }
        return String(cString: html)
    }

    /// Whether `text` holds `mark` (memmem: a byte search at memory speed).
    private static func contains(_ text: String, _ mark: String) -> Bool {
        var text = text, mark = mark
        return text.withUTF8 { t in
            mark.withUTF8 { m in c_memmem(t.baseAddress, t.count, m.baseAddress, m.count) != nil }
        }
    }

    /// Raw HTML becomes text (a block of it, a paragraph of text) and images become links
    /// to their source, their alt text kept. Nodes are collected first and replaced after
    /// the walk, so the iterator never sees a changed tree.
    private static func defuse(_ doc: OpaquePointer) {
        var found: [OpaquePointer] = []
        guard let iter = cmark_iter_new(doc) else { return }
        while case let ev = cmark_iter_next(iter), ev != CMARK_EVENT_DONE {
            guard ev == CMARK_EVENT_ENTER, let node = cmark_iter_get_node(iter) else { continue }
            let type = cmark_node_get_type(node)
            if type == CMARK_NODE_HTML_INLINE || type == CMARK_NODE_HTML_BLOCK || type == CMARK_NODE_IMAGE { found.append(node) }
        }
        cmark_iter_free(iter)
        for node in found {
            let type = cmark_node_get_type(node)
            if type == CMARK_NODE_IMAGE {
                guard let link = cmark_node_new(CMARK_NODE_LINK) else { continue }
                cmark_node_set_url(link, cmark_node_get_url(node))
                while let child = cmark_node_first_child(node) { cmark_node_unlink(child); cmark_node_append_child(link, child) }
                cmark_node_replace(node, link)
                cmark_node_free(node)
                continue
            }
            var literal = cmark_node_get_literal(node).map { String(cString: $0) } ?? ""
            guard let replacement = cmark_node_new(type == CMARK_NODE_HTML_BLOCK ? CMARK_NODE_PARAGRAPH : CMARK_NODE_TEXT) else { continue }
            if type == CMARK_NODE_HTML_BLOCK {
                while literal.hasSuffix("\n") { literal.removeLast() }
                // One text node per line with hard breaks between, so the block keeps its lines.
                for (i, line) in literal.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    if i > 0, let br = cmark_node_new(CMARK_NODE_LINEBREAK) { cmark_node_append_child(replacement, br) }
                    if let t = cmark_node_new(CMARK_NODE_TEXT) { cmark_node_set_literal(t, String(line)); cmark_node_append_child(replacement, t) }
                }
            } else {
                cmark_node_set_literal(replacement, literal)
            }
            cmark_node_replace(node, replacement)
            cmark_node_free(node)
        }
    }
}
