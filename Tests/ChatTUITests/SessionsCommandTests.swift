import Foundation
import Sessions
import XCTest

/// Runs the built `sparkchat sessions ...` against a temporary XDG_DATA_HOME, as a user
/// or a script would, and checks its output and one-line errors (docs/ARCHITECTURE.md §2).
final class SessionsCommandTests: XCTestCase {
    var dataHome: URL!
    var store: SessionStore!
    let t0 = Date(timeIntervalSince1970: 1_795_755_792)  // 2026-11-27 05:03:12 UTC

    override func setUpWithError() throws {
        dataHome = FileManager.default.temporaryDirectory.appendingPathComponent("sessions-cli-\(UUID().uuidString)")
        store = try SessionStore(directory: dataHome.appendingPathComponent("sparkchat/sessions"))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dataHome)
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    func sparkchat(_ args: String...) throws -> Output {
        let binary = ProcessInfo.processInfo.environment["SPARKCHAT_BINARY"] ?? HeadlessCommandTests.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("release binary not built at \(binary)") }
        let out = dataHome.appendingPathComponent("stdout"), err = dataHome.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["XDG_DATA_HOME": dataHome.path]) { $1 }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return Output(
            status: p.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
            stderr: try String(contentsOf: err, encoding: .utf8))
    }

    func assertOneLineError(_ o: Output, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(o.status, 0, file: file, line: line)
        XCTAssertTrue(o.stderr.hasPrefix("sparkchat: error: "), o.stderr, file: file, line: line)
        XCTAssertEqual(o.stderr.filter { $0 == "\n" }.count, 1, o.stderr, file: file, line: line)
        XCTAssertTrue(o.stderr.contains(fragment), "\(o.stderr) lacks \(fragment)", file: file, line: line)
        XCTAssertEqual(o.stdout, "", file: file, line: line)
    }

    /// Two conversations: an older one with code and stats, a newer one with hostile text.
    func makeSessions() throws -> (older: Conversation, newer: Conversation) {
        var older = Conversation(id: "20261127-050312-a1b2", systemPrompt: "Be brief.", model: "gemma-3-270m")
        older.created = t0
        older.updated = t0
        older.append(Message(role: .user, text: "Write hello world in C 🖥️", time: t0.addingTimeInterval(1)))
        older.append(
            Message(
                role: .assistant, text: "```c\nint main(void) { puts(\"hi\"); return 0 < 1; }\n```",
                model: "gemma-3-270m", time: t0.addingTimeInterval(3),
                stats: MessageStats(promptTokens: 12, generatedTokens: 20, decodeTPS: 41.5)))
        var newer = Conversation(id: "20261127-060000-c3d4", model: "spark-270m")
        newer.created = t0.addingTimeInterval(3000)
        newer.updated = newer.created
        newer.append(Message(role: .user, text: "<script>alert(1)</script> & \u{1B}]0;pwned\u{7} title", time: t0.addingTimeInterval(3600)))
        newer.append(
            Message(
                role: .assistant, text: "I won't \u{1B}[2Jclear your screen.", model: "spark-270m",
                time: t0.addingTimeInterval(3601), interrupted: true))
        try store.save(older)
        try store.save(newer)
        return (older, newer)
    }

    func testListShowsATableNewestFirst() throws {
        XCTAssertEqual(try sparkchat("sessions", "list").stdout, "no sessions in \(store.directory.path)\n")
        let (older, newer) = try makeSessions()
        let o = try sparkchat("sessions", "list")
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertEqual(o.stderr, "")
        let lines = o.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].hasPrefix("ID "), lines[0])
        for column in ["UPDATED (UTC)", "MSGS", "MODEL", "TITLE"] { XCTAssertTrue(lines[0].contains(column)) }
        XCTAssertEqual(
            lines[1].split(separator: " ", omittingEmptySubsequences: true).prefix(6).map(String.init),
            [newer.id, "2026-11-27", "06:03", "2", "spark-270m", "<script>alert(1)</script>"])
        XCTAssertFalse(o.stdout.contains("\u{1B}") || o.stdout.contains("\u{7}"), "no escape sequences reach the terminal")
        XCTAssertEqual(
            lines[2].split(separator: " ", omittingEmptySubsequences: true).map(String.init),
            [older.id, "2026-11-27", "05:03", "2", "gemma-3-270m", "Write", "hello", "world", "in", "C", "🖥️"])
        // Columns line up: every row starts its title where the header's TITLE starts.
        let titleColumn = lines[0].range(of: "TITLE")!.lowerBound.utf16Offset(in: lines[0])
        XCTAssertTrue(lines[2].dropFirst(titleColumn).hasPrefix("Write hello"), lines[2])

        let json = try sparkchat("sessions", "list", "--json")
        let objects = json.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(objects.map { $0["id"] as? String }, [newer.id, older.id])
        XCTAssertEqual(objects[1]["messages"] as? Int, 2)
        XCTAssertEqual(objects[1]["model"] as? String, "gemma-3-270m")
        XCTAssertEqual(objects[1]["title"] as? String, "Write hello world in C 🖥️")
        XCTAssertEqual(objects[1]["updated"] as? String, "2026-11-27T05:03:15Z")
    }

    func testShowPrintsAReadableTranscript() throws {
        let (older, newer) = try makeSessions()
        let o = try sparkchat("sessions", "show", older.id)
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stdout.hasPrefix("Write hello world in C 🖥️\n====="), o.stdout)
        XCTAssertTrue(o.stdout.contains("System prompt: Be brief.\n"))
        XCTAssertTrue(o.stdout.contains("[2026-11-27 05:03:13 UTC] User\nWrite hello world in C 🖥️\n"))
        XCTAssertTrue(
            o.stdout.contains(
                "[2026-11-27 05:03:15 UTC] Assistant (gemma-3-270m)\n```c\nint main(void) { puts(\"hi\"); return 0 < 1; }\n```\n(20 tokens · prompt 12 · 41.5 tok/s)\n"
            ), o.stdout)

        let hostile = try sparkchat("sessions", "show", newer.id)
        XCTAssertEqual(hostile.status, 0)
        XCTAssertFalse(hostile.stdout.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "control characters filtered")
        XCTAssertTrue(hostile.stdout.contains("I won't \u{FFFD}[2Jclear your screen."))
        XCTAssertTrue(hostile.stdout.contains("Assistant (spark-270m) (interrupted)"))
    }

    func testExportEveryFormatToStdoutAndFile() throws {
        let (older, newer) = try makeSessions()
        let md = try sparkchat("sessions", "export", older.id, "--format", "md")
        XCTAssertEqual(md.status, 0, md.stderr)
        XCTAssertTrue(md.stdout.hasPrefix("# Write hello world in C 🖥️\n"))
        XCTAssertTrue(md.stdout.contains("### Assistant (gemma-3-270m) · 2026-11-27 05:03:15 UTC\n\n```c\n"))

        let txt = try sparkchat("sessions", "export", older.id, "--format", "txt")
        XCTAssertTrue(txt.stdout.contains("[2026-11-27 05:03:13 UTC] User\n"))

        let html = try sparkchat("sessions", "export", newer.id, "--format", "html")
        XCTAssertTrue(html.stdout.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp;"))
        XCTAssertFalse(html.stdout.contains("<script"))

        let json = try sparkchat("sessions", "export", older.id, "--format", "json")
        XCTAssertEqual(json.stdout, try String(contentsOf: store.fileURL(id: older.id), encoding: .utf8))

        for format in ["md", "txt", "html", "json"] {
            let target = dataHome.appendingPathComponent("export.\(format)")
            let o = try sparkchat("sessions", "export", older.id, "--format", format, "-o", target.path)
            XCTAssertEqual(o.status, 0, o.stderr)
            XCTAssertEqual(o.stdout, "")
            XCTAssertEqual(o.stderr, "exported \(older.id) to \(target.path)\n")
            XCTAssertEqual(
                try String(contentsOf: target, encoding: .utf8),
                try sparkchat("sessions", "export", older.id, "--format", format).stdout)
        }
    }

    func testExportFormatFollowsTheOutputExtension() throws {
        let (older, _) = try makeSessions()
        for (name, expected) in [
            ("page.html", "<!DOCTYPE html>"), ("notes.txt", "Write hello world in C 🖥️\n="),
            ("data.json", "{\n"), ("notes.md", "# Write"), ("noext", "# Write")
        ] {
            let target = dataHome.appendingPathComponent(name)
            XCTAssertEqual(try sparkchat("sessions", "export", older.id, "-o", target.path).status, 0)
            XCTAssertTrue(try String(contentsOf: target, encoding: .utf8).hasPrefix(expected), name)
        }
        XCTAssertTrue(try sparkchat("sessions", "export", older.id).stdout.hasPrefix("# Write"), "Markdown by default")
        let forced = dataHome.appendingPathComponent("forced.html")
        _ = try sparkchat("sessions", "export", older.id, "--format", "txt", "-o", forced.path)
        XCTAssertFalse(try String(contentsOf: forced, encoding: .utf8).contains("<html"), "--format wins")
        assertOneLineError(
            try sparkchat("sessions", "export", older.id, "-o", "/nonexistent-dir/x.md"),
            "cannot create a file in /nonexistent-dir")
    }

    func testDeleteAndRename() throws {
        let (older, newer) = try makeSessions()
        let r = try sparkchat("sessions", "rename", older.id, "C basics")
        XCTAssertEqual(r.stdout, "renamed \(older.id)\n")
        XCTAssertEqual(try store.load(id: older.id).title, "C basics")

        let d = try sparkchat("sessions", "delete", newer.id)
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertEqual(d.stdout, "deleted \(newer.id)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.fileURL(id: newer.id).path))
        let list = try sparkchat("sessions", "list").stdout
        XCTAssertFalse(list.contains(newer.id))
        XCTAssertTrue(list.contains("C basics"))
        assertOneLineError(try sparkchat("sessions", "delete", newer.id), "no session '\(newer.id)'")
    }

    func testUnknownAndInvalidIDsAreOneLineErrors() throws {
        _ = try makeSessions()
        assertOneLineError(try sparkchat("sessions", "show", "20990101-000000-ffff"), "no session '20990101-000000-ffff' in \(store.directory.path)")
        assertOneLineError(try sparkchat("sessions", "export", "nope", "--format", "md"), "no session 'nope'")
        assertOneLineError(try sparkchat("sessions", "show", "../../etc/passwd"), "invalid session id")
        assertOneLineError(
            try sparkchat("sessions", "export", "x", "--format", "pdf"),
            "The value 'pdf' is invalid for '--format <format>'. Please provide one of 'md', 'txt', 'html' or 'json'.")
        assertOneLineError(try sparkchat("sessions", "show"), "Missing expected argument")
    }

    /// A corrupt session is reported in one line and left where it is (reads never rename);
    /// other JSON files in the folder are not sessions and are not touched.
    func testCorruptFileIsReportedLeftInPlaceAndOtherFilesIgnored() throws {
        let (older, newer) = try makeSessions()
        let broken = store.fileURL(id: "20261127-070000-dead")
        try Data("{\"version\": 1, \"id\": \"trunc".utf8).write(to: broken)
        let package = store.directory.appendingPathComponent("package.json")
        try Data("{\"name\": \"app\"}".utf8).write(to: package)
        for _ in 0..<2 {
            let o = try sparkchat("sessions", "list")
            XCTAssertEqual(o.status, 0)
            XCTAssertTrue(o.stdout.contains(older.id) && o.stdout.contains(newer.id))
            XCTAssertFalse(o.stdout.contains("dead") || o.stdout.contains("package"))
            XCTAssertTrue(o.stderr.hasPrefix("sparkchat: session 20261127-070000-dead is corrupt ("), o.stderr)
            XCTAssertEqual(o.stderr.filter { $0 == "\n" }.count, 1)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: broken.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: package.path))
        XCTAssertNotEqual(try sparkchat("sessions", "show", "20261127-070000-dead").status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: broken.path), "show renamed it")
    }

    /// Markdown and text on stdout carry no escape sequences from a hostile session.
    func testExportToStdoutStripsControlCharacters() throws {
        let (_, newer) = try makeSessions()
        for format in ["md", "txt"] {
            let o = try sparkchat("sessions", "export", newer.id, "--format", format)
            XCTAssertEqual(o.status, 0, o.stderr)
            XCTAssertFalse(o.stdout.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F }, format)
            XCTAssertTrue(o.stdout.contains("I won't \u{FFFD}[2Jclear your screen."), format)
        }
    }

    func testDirOptionOverridesXDG() throws {
        let other = dataHome.appendingPathComponent("elsewhere")
        let otherStore = try SessionStore(directory: other)
        var c = Conversation(id: "20261127-080000-here")
        c.append(Message(role: .user, text: "in another directory"))
        try otherStore.save(c)
        _ = try makeSessions()
        let o = try sparkchat("sessions", "list", "--dir", other.path)
        XCTAssertEqual(o.stdout.split(separator: "\n").count, 2)
        XCTAssertTrue(o.stdout.contains("20261127-080000-here"))
        XCTAssertTrue(try sparkchat("sessions", "show", "20261127-080000-here", "--dir", other.path).stdout.contains("in another directory"))
    }
}
