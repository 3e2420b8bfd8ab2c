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
        XCTAssertTrue(md.contains("### Assistant (gemma-3-270m) · 2026-11-27 05:03:14 UTC\n\nIt is **4**.\n\n```python\nprint(2 + 2)  # 4 < 5 & \"ok\"\n```\nDone. 日本語 ✓\n"), md)
        XCTAssertTrue(md.contains("*17 tokens · prompt 21 · prefill 812.5 tok/s · first token 33 ms · FFN active 8.1% · 5.50 GFLOP (dense 9.10) · draft acceptance 75%*"), md)
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
        XCTAssertTrue(txt.contains("\n[2026-11-27 05:03:14 UTC] Assistant (gemma-3-270m)\nIt is **4**.\n\n```python\nprint(2 + 2)  # 4 < 5 & \"ok\"\n```\nDone. 日本語 ✓\n(17 tokens · prompt 21"), txt)
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
        XCTAssertTrue(html.contains("<span class=\"who\">Assistant (gemma-3-270m)</span> <time datetime=\"2026-11-27T05:03:14Z\">2026-11-27 05:03:14 UTC</time>"), html)
        XCTAssertTrue(html.contains("<pre><span class=\"lang\">python</span><code class=\"language-python\">print(2 + 2)  # 4 &lt; 5 &amp; &quot;ok&quot;</code></pre>"))
        XCTAssertTrue(html.contains("<div class=\"text\">Done. 日本語 ✓</div>"))
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
            "\u{1B}[2J\u{0}\u{7} control bytes",
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
        XCTAssertTrue(html.contains("Tom &amp; Jerry &amp;amp; &amp;lt;b&amp;gt; &amp;#60;"))
        XCTAssertTrue(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
        XCTAssertTrue(html.contains("<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</title>"))
        // The only elements are the ones the exporter writes: count tags in the page.
        let allowed: Set<String> = ["!doctype", "html", "head", "meta", "title", "style", "body", "main", "header", "h1",
                                    "h2", "dl", "dt", "dd", "section", "article", "span", "time", "div", "pre", "code", "footer"]
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

    func testHTMLShowsInlineCodeSpans() {
        XCTAssertEqual(HTMLExport.inlineCode("use `xs[::-1]` or ``a`b`` <not> `open"),
                       "use <code>xs[::-1]</code> or <code>a`b</code> &lt;not&gt; `open")
        XCTAssertEqual(HTMLExport.inlineCode("`<script>alert(1)</script>`"), "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>")
        XCTAssertEqual(HTMLExport.inlineCode("no code"), "no code")
        XCTAssertEqual(HTMLExport.inlineCode("``"), "``")
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
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(),
                       ["out.html", "out.json", "out.md", "out.txt"])
        let longName = String(repeating: "ü", count: 120) + ".md"   // 243 bytes: the temp name must be shorter
        try Exporter.write(c, as: .md, to: dir.appendingPathComponent(longName))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(longName).path))
        try FileManager.default.removeItem(at: dir.appendingPathComponent(longName))
        XCTAssertThrowsError(try Exporter.write(c, as: .md, to: dir)) { XCTAssertTrue("\($0)".hasSuffix("is a directory")) }
        XCTAssertThrowsError(try Exporter.write(c, as: .md, to: dir.appendingPathComponent("missing/out.md"))) {
            XCTAssertTrue("\($0)".hasPrefix("cannot create a file in"), "\($0)")
        }
    }

    func testTextBlocksSplitFences() {
        XCTAssertEqual(TextBlock.split("a\n```js\nx<1\n```\nb"),
                       [.prose("a"), .code(language: "js", body: "x<1", fence: "```", closed: true), .prose("b")])
        XCTAssertEqual(TextBlock.split("~~~~\n~~~\n~~~~"), [.code(language: "", body: "~~~", fence: "~~~~", closed: true)])
        XCTAssertEqual(TextBlock.split("``inline`` stays prose"), [.prose("``inline`` stays prose")])
        XCTAssertEqual(TextBlock.split("```\nopen"), [.code(language: "", body: "open", fence: "```", closed: false)])
        XCTAssertEqual(TextBlock.split(""), [.prose("")])
    }
}
