import Foundation
import XCTest

@testable import Sessions

final class ExporterTests: XCTestCase {
    func testMarkdownTranscript() throws {
        let md = try Exporter.render(sampleConversation(), as: .md)
        XCTAssertTrue(md.hasPrefix("# Héllo wörld 👋🏽 — what's 2+2?\n\n"), md)
        XCTAssertTrue(md.contains("- **Session:** 20261127-050312-a1b2\n"))
        XCTAssertTrue(md.contains("- **Created:** 2026-11-27 05:03:12 UTC\n"))
        XCTAssertTrue(md.contains("- **Model:** gemma-3-270m\n"))
        XCTAssertTrue(md.contains("**System prompt:**\n\n> Be brief.\n> Answer in English 🇬🇧.\n"))
        XCTAssertTrue(md.contains("### User · 2026-11-27 05:03:13 UTC\n\nHéllo wörld 👋🏽 — what's 2+2?\nSecond line «quoted»\n"))
        XCTAssertTrue(
            md.contains(
                "### Assistant (gemma-3-270m) · 2026-11-27 05:03:14 UTC\n\nIt is **4**.\n\n```python\nprint(2 + 2)  # 4 < 5 & \"ok\"\n```\nDone. 日本語 ✓\n"), md)
        XCTAssertTrue(
            md.contains("*17 tokens · prompt 21 · prefill 812.5 tok/s · first token 33 ms · FFN active 8.1% · 5.50 GFLOP (dense 9.10) · draft acceptance 75%*"),
            md)
        XCTAssertTrue(md.contains("### Assistant (spark-270m) · 2026-11-27 05:03:23 UTC\n\nSix, becau\n\n*3 tokens · interrupted*\n"), md)
        XCTAssertEqual(md.components(separatedBy: "\n---\n").count, 5, "one rule before each message")
    }

    func testMarkdownClosesACodeBlockCutOffMidReply() throws {
        var c = Conversation(id: "cut")
        c.append(Message(role: .assistant, text: "Here:\n````swift\nlet a = \"```\"\nfor i in"))
        c.append(Message(role: .user, text: "thanks"))
        let md = try Exporter.render(c, as: .md)
        XCTAssertTrue(md.contains("for i in\n````\n"), md)
        let userHeadingIsProse = TextBlock.split(md).contains {
            if case .prose(let p) = $0 { return p.contains("### User") } else { return false }
        }
        XCTAssertTrue(userHeadingIsProse, "the next message must not be swallowed by the open code block")
    }

    func testPlainTextTranscript() throws {
        let txt = try Exporter.render(sampleConversation(), as: .txt)
        let lines = txt.components(separatedBy: "\n")
        XCTAssertEqual(lines[0], "Héllo wörld 👋🏽 — what's 2+2?")
        XCTAssertEqual(lines[1], String(repeating: "=", count: lines[0].count))
        XCTAssertTrue(txt.contains("Session: 20261127-050312-a1b2\n"))
        XCTAssertTrue(txt.contains("System prompt: Be brief.\nAnswer in English 🇬🇧.\n"))
        XCTAssertTrue(txt.contains("\n[2026-11-27 05:03:13 UTC] User\nHéllo wörld 👋🏽 — what's 2+2?\nSecond line «quoted»\n"))
        XCTAssertTrue(
            txt.contains(
                "\n[2026-11-27 05:03:14 UTC] Assistant (gemma-3-270m)\nIt is **4**.\n\n```python\nprint(2 + 2)  # 4 < 5 & \"ok\"\n```\nDone. 日本語 ✓\n(17 tokens · prompt 21"
            ), txt)
        XCTAssertTrue(txt.contains("\n[2026-11-27 05:03:23 UTC] Assistant (spark-270m) (interrupted)\nSix, becau\n"))
        XCTAssertFalse(txt.contains("<div") || txt.contains("&lt;") || txt.contains("### "), "no markup added")
    }

    func testJSONExportIsTheSessionFile() throws {
        let c = sampleConversation()
        let json = try Exporter.render(c, as: .json)
        XCTAssertEqual(try SessionFile.decode(Data(json.utf8)), c)
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        try store.save(c)
        XCTAssertEqual(json, try String(contentsOf: store.fileURL(id: c.id), encoding: .utf8))
    }

    func testHTMLPageIsSelfContained() throws {
        let html = try Exporter.render(sampleConversation(), as: .html)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        XCTAssertTrue(html.contains("<meta charset=\"utf-8\">"))
        XCTAssertTrue(html.contains("<title>Héllo wörld 👋🏽 — what&#39;s 2+2?</title>"))
        XCTAssertTrue(html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""))
        XCTAssertTrue(html.contains("<style>") && html.contains("prefers-color-scheme: dark"))
        XCTAssertEqual(html.components(separatedBy: "<article class=\"message ").count, 5)
        XCTAssertTrue(
            html.contains("<span class=\"who\">Assistant (gemma-3-270m)</span> <time datetime=\"2026-11-27T05:03:14Z\">2026-11-27 05:03:14 UTC</time>"), html)
        XCTAssertTrue(html.contains("<p>It is <strong>4</strong>.</p>"), html)
        XCTAssertTrue(html.contains("<pre><code class=\"language-python\">print(2 + 2)  # 4 &lt; 5 &amp; &quot;ok&quot;\n</code></pre>"), html)
        XCTAssertTrue(html.contains("<p>Done. 日本語 ✓</p>"), html)
        XCTAssertTrue(html.contains("<p>Héllo wörld 👋🏽 — what's 2+2?<br />\nSecond line «quoted»</p>"), "typed line breaks are kept: \(html)")
        XCTAssertTrue(html.contains("<span class=\"interrupted\">interrupted</span>"))
        XCTAssertTrue(html.contains("<footer class=\"stats\">17 tokens · prompt 21"))
        XCTAssertTrue(html.hasSuffix("</main>\n</body>\n</html>\n"))
        // No external resources of any kind.
        for needle in ["http:", "https:", "//", "<script", "<link", "<img", "src=", "url(", "@import"] {
            XCTAssertFalse(html.replacingOccurrences(of: "<!DOCTYPE", with: "").lowercased().contains(needle), needle)
        }
    }

    func testHTMLEscapesHostileText() throws {
        let hostile = [
            "<script>alert('x')</script>",
            "\"><img src=x onerror=alert(1)>",
            "' onmouseover='alert(2)",
            "Tom & Jerry &amp; &lt;b&gt; &#60;",
            "</div></article></main><iframe src=\"javascript:alert(3)\">",
            "<!-- comment --> <![CDATA[ x ]]> <?php echo 1 ?> <a href=javascript:alert(4)>x</a>",
            "\u{1B}[2J\u{0}\u{7} control bytes"
        ]
        var c = Conversation(id: "hostile", title: hostile[0], systemPrompt: hostile[4], model: "<b>model</b>\" x=\"")
        for (i, h) in hostile.enumerated() {
            c.append(Message(role: i % 2 == 0 ? .user : .assistant, text: h, model: i % 2 == 0 ? nil : "m\"><script>"))
        }
        c.append(Message(role: .assistant, text: "```\"><script>alert(5)</script>\n<script>alert(6)</script>\n```"))
        let html = try Exporter.render(c, as: .html)
        let lower = html.lowercased()
        for tag in ["<script", "<img", "<iframe", "<a ", "<!--", "<![cdata", "<?php", "<b>"] {
            XCTAssertFalse(lower.contains(tag), "unescaped \(tag)")
        }
        XCTAssertFalse(html.contains("\u{1B}") || html.contains("\u{0}") || html.contains("\u{7}"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        // Entities in a message mean what they mean in Markdown (the characters), shown escaped.
        XCTAssertTrue(html.contains("<p>Tom &amp; Jerry &amp; &lt;b&gt; &lt;</p>"), html)
        XCTAssertTrue(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
        XCTAssertTrue(html.contains("<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</title>"))
        // The only elements are the ones the exporter writes: count tags in the page.
        let allowed: Set<String> = [
            "!doctype", "html", "head", "meta", "title", "style", "body", "main", "header", "h1",
            "h2", "dl", "dt", "dd", "section", "article", "span", "time", "div", "pre", "code", "footer",
            "p", "br"
        ]
        var tags = Set<String>()
        var rest = Substring(html)
        while let lt = rest.firstIndex(of: "<") {
            let after = rest[rest.index(after: lt)...].drop { $0 == "/" }
            tags.insert(String(after.prefix { $0.isLetter || $0.isNumber || $0 == "!" }).lowercased())
            rest = rest[rest.index(after: lt)...]
        }
        XCTAssertTrue(tags.isSubset(of: allowed), "unexpected tags \(tags.subtracting(allowed))")
        // Every attribute value is quoted and closed where the exporter closed it: the
        // article headers are intact.
        XCTAssertEqual(html.components(separatedBy: "<article ").count, html.components(separatedBy: "</article>").count)
        XCTAssertTrue(html.contains("<span class=\"who\">Assistant (m&quot;&gt;&lt;script&gt;)</span>"))
    }

    func html(of text: String) throws -> String {
        var c = Conversation(id: "md")
        c.append(Message(role: .assistant, text: text, model: "m"))
        let page = try Exporter.render(c, as: .html)
        // The message body: between the article's header and its end.
        let start = try XCTUnwrap(page.range(of: "<div class=\"md\">\n"))
        let end = try XCTUnwrap(page.range(of: "</div>\n</article>"))
        return String(page[start.upperBound..<end.lowerBound])
    }

    func testHTMLRendersMarkdown() throws {
        XCTAssertEqual(
            try html(of: "use `xs[::-1]` or ``a`b`` <not> `open"),
            "<p>use <code>xs[::-1]</code> or <code>a`b</code> &lt;not&gt; `open</p>\n")
        XCTAssertEqual(try html(of: "**bold**, *it*, ~~gone~~"), "<p><strong>bold</strong>, <em>it</em>, <del>gone</del></p>\n")
        XCTAssertEqual(
            try html(of: "## Title\n\n- a\n- b\n  1. c"),
            "<h2>Title</h2>\n<ul>\n<li>a</li>\n<li>b\n<ol>\n<li>c</li>\n</ol>\n</li>\n</ul>\n")
        XCTAssertEqual(try html(of: "> quoted\n\n---"), "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr />\n")
        let table = try html(of: "| Name | Age |\n|:-----|----:|\n| Ann | 31 |\n| <b>Bo</b> | 4 |")
        XCTAssertTrue(table.hasPrefix("<table>\n<thead>\n<tr>\n<th align=\"left\">Name</th>\n<th align=\"right\">Age</th>"), table)
        XCTAssertTrue(table.contains("<td align=\"left\">Ann</td>\n<td align=\"right\">31</td>"), table)
        XCTAssertTrue(table.contains("<td align=\"left\">&lt;b&gt;Bo&lt;/b&gt;</td>"), "raw HTML in a cell is text: \(table)")
        XCTAssertEqual(try html(of: "```swift\nlet a = \"<x>\"\n```"), "<pre><code class=\"language-swift\">let a = &quot;&lt;x&gt;&quot;\n</code></pre>\n")
        XCTAssertEqual(try html(of: "```\nopen, cut off"), "<pre><code>open, cut off\n</code></pre>\n")
        XCTAssertEqual(try html(of: "see https://example.org now"), "<p>see <a href=\"https://example.org\">https://example.org</a> now</p>\n")
    }

    func testHTMLLetsNoMarkupOfTheMessageThrough() throws {
        // Raw HTML shows as text (not dropped: the reader sees what was written).
        XCTAssertEqual(try html(of: "<script>alert(1)</script>"), "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n")
        XCTAssertEqual(try html(of: "hi <img src=x onerror=alert(2)> there"), "<p>hi &lt;img src=x onerror=alert(2)&gt; there</p>\n")
        XCTAssertEqual(
            try html(of: "<div onclick=\"x()\">\nblock\n</div>"),
            "<p>&lt;div onclick=&quot;x()&quot;&gt;<br />\nblock<br />\n&lt;/div&gt;</p>\n")
        // Script URLs lose their target; images become plain links (the page loads nothing).
        XCTAssertEqual(try html(of: "[x](javascript:alert(3))"), "<p><a href=\"\">x</a></p>\n")
        XCTAssertEqual(try html(of: "![a cat](https://example.org/cat.png)"), "<p><a href=\"https://example.org/cat.png\">a cat</a></p>\n")
        XCTAssertEqual(try html(of: "bell\u{7} esc\u{1B}[2J"), "<p>bell\u{FFFD} esc\u{FFFD}[2J</p>\n")
        // The page keeps its policy whatever the messages hold.
        var c = Conversation(id: "csp")
        c.append(Message(role: .assistant, text: "<meta http-equiv=\"refresh\" content=\"0;url=https://evil\">\n<script>x</script>", model: "m"))
        let page = try Exporter.render(c, as: .html)
        XCTAssertTrue(page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"))
        XCTAssertEqual(page.components(separatedBy: "<meta http-equiv").count, 2, page)
        XCTAssertFalse(page.contains("<script"), page)
    }

    /// A huge reply (prose with Markdown of the usual kinds here and there) exports in time
    /// proportional to its size: ten times the text may take no more than thirty times as
    /// long (the slack is for a shared machine), so no step is quadratic. 20 MB keeps the
    /// debug build's run short; the speed itself is cmark-gfm's (measured in release).
    func testHugeMarkdownMessageExportsLinearly() throws {
        let unit =
            "## Part\n\nSome prose explaining the idea in a sentence or two, as replies are written by models, "
            + "with **bold** words and `code` here and there.\nA second line of the same paragraph.\n\n"
            + "- item one with a few words\n- item two with a few more words\n\n```swift\nlet x = 1 < 2\n```\n\n"
        let small = String(repeating: unit, count: 2_000_000 / unit.utf8.count)
        let big = String(repeating: unit, count: 20_000_000 / unit.utf8.count)
        func seconds(_ text: String) throws -> Double {
            var c = Conversation(id: "big")
            c.append(Message(role: .assistant, text: text, model: "m"))
            let t = Date()
            let html = try Exporter.render(c, as: .html)
            let elapsed = Date().timeIntervalSince(t)
            XCTAssertTrue(html.hasSuffix("let x = 1 &lt; 2\n</code></pre>\n</div>\n</article>\n</main>\n</body>\n</html>\n"))
            return elapsed
        }
        let tSmall = try seconds(small), tBig = try seconds(big)
        print(String(format: "markdown html export: 2 MB in %.2f s, 20 MB in %.2f s (%.1f MB/s)", tSmall, tBig, 20 / tBig))
        XCTAssertLessThan(tBig, tSmall * 30 + 1, "export time grows faster than the text")
    }

    func testWriteIsAtomicAndRefusesDirectories() throws {
        let dir = try makeTemporaryDirectory(self)
        let c = sampleConversation()
        for f in ExportFormat.allCases {
            let url = dir.appendingPathComponent("out.\(f.fileExtension)")
            try Data("old".utf8).write(to: url)
            try Exporter.write(c, as: f, to: url)
            XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), try Exporter.render(c, as: f))
        }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(),
            ["out.html", "out.json", "out.md", "out.txt"])
        let longName = String(repeating: "ü", count: 120) + ".md"  // 243 bytes: the temp name must be shorter
        try Exporter.write(c, as: .md, to: dir.appendingPathComponent(longName))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(longName).path))
        try FileManager.default.removeItem(at: dir.appendingPathComponent(longName))
        XCTAssertThrowsError(try Exporter.write(c, as: .md, to: dir)) { XCTAssertTrue("\($0)".hasSuffix("is a directory")) }
        XCTAssertThrowsError(try Exporter.write(c, as: .md, to: dir.appendingPathComponent("missing/out.md"))) {
            XCTAssertTrue("\($0)".hasPrefix("cannot create a file in"), "\($0)")
        }
    }

    func testTextBlocksSplitFences() {
        XCTAssertEqual(
            TextBlock.split("a\n```js\nx<1\n```\nb"),
            [.prose("a"), .code(language: "js", body: "x<1", fence: "```", closed: true), .prose("b")])
        XCTAssertEqual(TextBlock.split("~~~~\n~~~\n~~~~"), [.code(language: "", body: "~~~", fence: "~~~~", closed: true)])
        XCTAssertEqual(TextBlock.split("``inline`` stays prose"), [.prose("``inline`` stays prose")])
        XCTAssertEqual(TextBlock.split("```\nopen"), [.code(language: "", body: "open", fence: "```", closed: false)])
        XCTAssertEqual(TextBlock.split(""), [.prose("")])
    }
}
