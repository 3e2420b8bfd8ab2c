import Foundation
import Sessions
import XCTest

/// The chat in a real terminal (tmux) when things go wrong: two windows on one session, a
/// 10 MB system prompt, a sessions folder that cannot be written, a kill -9 mid-reply and
/// a model that does not load. Nothing the user typed may be lost without a word.
final class NeverLoseAWordTests: XCTestCase {
    var t: TmuxDriver!

    override func tearDown() { t?.close() }

    func store() throws -> SessionStore { try SessionStore(directory: t.sessionsDirectory) }

    /// A second window on a session opens it read-only and says so: what the first writes
    /// is never overwritten, what the second types is refused but stays in its editor, and
    /// a new session from the second window is saved as usual.
    func testSecondWindowOnASessionIsReadOnly() throws {
        t = try TmuxDriver()
        var c = Conversation(title: "Shared", model: "alpha")
        c.append(Message(role: .user, text: "an old question"))
        c.append(Message(role: .assistant, text: "an old answer", model: "alpha"))
        try store().save(c)

        try t.start("a", "$APP --model alpha --session \(c.id)")
        t.waitFor("a", "model alpha ready")
        try t.start("b", "$APP --model alpha --session \(c.id)")
        t.waitFor("b", "read-only notice and title") {
            $0.contains("read-only: this session is open in another window") && $0.contains("· read-only")
        }
        let first = t.screen("a")
        XCTAssertFalse(first.contains("read-only"), "the first window may write:\n\(first)")

        try t.chat("a", "from window A", model: "alpha", replies: 2)
        XCTAssertEqual(try store().load(id: c.id).messages.count, 4)

        try t.type("b", "from window B"); try t.keys("b", "Enter")
        t.waitFor("b", "refused, text kept") { $0.contains("read-only: this session is open") && $0.contains("› from window B") }
        try t.keys("b", "C-u")
        try t.type("b", "/temp 1.5"); try t.keys("b", "Enter")
        t.waitFor("b", "/temp refused") { $0.contains("read-only: this session is open") && !$0.contains("temperature 1.5") }
        // A new session from the read-only window is its own, and writable.
        try t.type("b", "/clear"); try t.keys("b", "Enter")
        t.waitFor("b", "new session, writable") { $0.contains("new session") && !$0.contains("· read-only") }
        try t.chat("b", "hello from B", model: "alpha", replies: 1)
        try t.keys("b", "C-c"); try t.keys("b", "C-c")
        t.waitFor("b", "EXIT=0")

        try t.keys("a", "C-c"); try t.keys("a", "C-c")
        t.waitFor("a", "EXIT=0")
        let shared = try store().load(id: c.id)
        XCTAssertEqual(shared.messages.map(\.text).prefix(3), ["an old question", "an old answer", "from window A"])
        XCTAssertEqual(shared.messages.count, 4)
        XCTAssertEqual(
            shared.messages.filter { $0.role == .user }.map(\.text), ["an old question", "from window A"],
            "the read-only window wrote nothing")
        let others = try store().list().sessions.filter { $0.id != c.id }
        XCTAssertEqual(others.count, 1)
        XCTAssertEqual(try store().load(id: others[0].id).messages.first?.text, "hello from B")
    }

    /// A 10 MB system prompt in config.json: drawn cut with its size, keystrokes echo at
    /// once, sending is refused with the size (the typed text stays), a message larger than
    /// the context is refused the same way, and Ctrl-C twice quits in well under 2 s.
    func testTenMegabyteSystemPromptKeepsTheChatResponsive() throws {
        let prompt = String(repeating: "Always answer in verse. ", count: 420_000)  // 10.1 MB
        let config = try JSONSerialization.data(withJSONObject: ["temperature": 0, "max_tokens": 6, "system_prompt": prompt])
        t = try TmuxDriver(config: String(decoding: config, as: UTF8.self))
        try t.start("chat", "$APP --model alpha")
        t.waitFor("chat", "model alpha ready", timeout: 60)
        t.waitFor("chat", "(the system prompt is 10.1 MB; the first 4 KB are shown)")

        let typed = Date()
        try t.type("chat", "hello there")
        t.waitFor("chat", "echo", timeout: 5) { $0.contains("› hello there") }
        XCTAssertLessThan(Date().timeIntervalSince(typed), 2, "keystrokes were slow to echo")
        try t.keys("chat", "Enter")
        t.waitFor("chat", "refused with the size, text kept", timeout: 5) {
            $0.contains("the system prompt is 10.1 MB, more than the model's context of") && $0.contains("› hello there")
        }
        XCTAssertEqual(try store().list().sessions.count, 0, "nothing was sent")

        // A shorter system prompt; then a 360 KB message (120,000 three-byte characters, the
        // editor's limit is in characters) is refused by its size, unsent and kept.
        try t.keys("chat", "C-u")
        try t.type("chat", "/system Be brief."); try t.keys("chat", "Enter")
        t.waitFor("chat", "system prompt set")
        let big = t.root.appendingPathComponent("big.txt")
        try Data(String(repeating: "字", count: 120_000).utf8).write(to: big)
        try t.tmux(["load-buffer", "-b", "big", big.path])
        try t.tmux(["paste-buffer", "-p", "-b", "big", "-t", "chat:"])
        try t.keys("chat", "Enter")
        t.waitFor("chat", "this message is 360 KB, more than the model's context of")
        try t.keys("chat", "C-u")
        try t.chat("chat", "Hi", model: "alpha", replies: 1)

        let pressed = Date()
        try t.keys("chat", "C-c")
        usleep(300_000)
        try t.keys("chat", "C-c")
        t.waitFor("chat", "EXIT=0", timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(pressed), 2, "Ctrl-C twice took too long to quit")
    }

    /// A sessions folder that cannot be written (replaced by a file: root ignores permission
    /// bits): the turns stay in memory with a notice, the next change saves them all once the
    /// folder is back, and quitting with turns unsaved writes them to the fallback folder,
    /// names it on stderr and exits non-zero.
    func testUnsavableTurnsAreKeptRetriedAndCopiedOnQuit() throws {
        t = try TmuxDriver()
        let errors = t.root.appendingPathComponent("stderr.txt")
        try t.start("chat", "$APP --model alpha 2>\(errors.path)")
        t.waitFor("chat", "model alpha ready")
        try t.chat("chat", "first turn", model: "alpha", replies: 1)
        let id = try XCTUnwrap(try store().list().sessions.first?.id)

        let fm = FileManager.default
        let dir = t.sessionsDirectory, aside = dir.appendingPathExtension("real")
        func breakFolder() throws { try fm.moveItem(at: dir, to: aside); try Data("full".utf8).write(to: dir) }
        func mendFolder() throws { try fm.removeItem(at: dir); try fm.moveItem(at: aside, to: dir) }

        try breakFolder()
        try t.chat("chat", "second turn", model: "alpha", replies: 2)
        t.waitFor("chat", "cannot save the session")
        try mendFolder()
        XCTAssertEqual(try store().load(id: id).messages.count, 2, "nothing saved while the folder was gone")
        try t.chat("chat", "third turn", model: "alpha", replies: 3)
        XCTAssertEqual(
            try store().load(id: id).messages.map(\.text).filter { $0.hasSuffix(" turn") },
            ["first turn", "second turn", "third turn"], "the turn typed while saving failed was saved on the next change")

        try breakFolder()
        try t.chat("chat", "fourth turn", model: "alpha", replies: 4)
        try t.keys("chat", "C-c"); try t.keys("chat", "C-c")
        t.waitFor("chat", "EXIT=1")
        let lines = try String(contentsOf: errors, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(lines)")
        let line = String(try XCTUnwrap(lines.first))
        XCTAssertTrue(line.hasPrefix("sparkchat: error: session \(id) could not be saved ("), line)
        let path = try XCTUnwrap(line.components(separatedBy: "; its turns are in ").last)
        XCTAssertTrue(path.hasPrefix(t.root.appendingPathComponent("state/sparkchat/unsaved").path), path)
        let file = URL(fileURLWithPath: path)
        let copy = try SessionStore(directory: file.deletingLastPathComponent()).load(id: file.deletingPathExtension().lastPathComponent)
        XCTAssertEqual(copy.messages.map(\.text).filter { $0.hasSuffix(" turn") }, ["first turn", "second turn", "third turn", "fourth turn"])
        XCTAssertEqual(copy.messages.count, 8)
    }

    /// kill -9 mid-reply: the reply on disk is the partial text, marked interrupted.
    func testKilledMidReplyLeavesItMarkedInterrupted() throws {
        t = try TmuxDriver(config: #"{"temperature": 0, "max_tokens": 400}"#)
        try t.start("chat", "$APP --model alpha")
        t.waitFor("chat", "model alpha ready")
        try t.type("chat", "Count from 1 to 300, separated by commas."); try t.keys("chat", "Enter")  // 400 tokens, greedy
        var partial: Message?
        let end = Date().addingTimeInterval(30)
        while Date() < end && partial == nil {
            if let id = try? store().list().sessions.first?.id, let c = try? store().load(id: id),
                c.messages.count == 2, c.messages[1].text.count > 10
            {
                partial = c.messages[1]
            }
            if partial == nil { usleep(50_000) }
        }
        let saving = try XCTUnwrap(partial, "the streaming reply was not autosaved")
        XCTAssertTrue(saving.interrupted, "a reply is saved marked interrupted while it streams")
        XCTAssertEqual(kill(try XCTUnwrap(t.appPID("chat")), SIGKILL), 0)
        t.waitFor("chat", "EXIT=137")
        let c = try store().load(id: try XCTUnwrap(try store().list().sessions.first?.id))
        let reply = try XCTUnwrap(c.messages.last)
        XCTAssertEqual(reply.role, .assistant)
        XCTAssertTrue(reply.interrupted)
        XCTAssertFalse(reply.text.isEmpty)
    }

    /// A model that fails to load: the notice says so and how to pick another, sending says
    /// the load failed (not "still loading"), and another model then works. A drafter typed
    /// with /speculative that is not a model is refused.
    func testFailedLoadIsNamedWhenSending() throws {
        t = try TmuxDriver()
        try Data(String(repeating: "not a model ", count: 100).utf8).write(to: t.root.appendingPathComponent("models/broken.gguf"))
        try t.start("chat", "$APP --model broken")
        t.waitFor("chat", "load failure") { $0.contains("cannot load model:") && $0.contains("pick another with F2 or /model NAME") }
        try t.type("chat", "hello"); try t.keys("chat", "Enter")
        t.waitFor("chat", "the failure named on sending") {
            $0.contains("no model: loading broken failed:") && !$0.contains("still loading") && $0.contains("› hello")
        }
        try t.keys("chat", "C-u")
        try t.type("chat", "/model alpha"); try t.keys("chat", "Enter")
        t.waitFor("chat", "model alpha ready")
        // /speculative follows the settings rules too: a drafter must be a model file.
        try t.type("chat", "/speculative model:/etc/passwd"); try t.keys("chat", "Enter")
        t.waitFor("chat", "names a drafter that is not a GGUF file")
        try t.chat("chat", "Hi", model: "alpha", replies: 1)
        try t.keys("chat", "C-c"); try t.keys("chat", "C-c")
        t.waitFor("chat", "EXIT=0")
        XCTAssertNil(try store().load(id: try XCTUnwrap(try store().list().sessions.first?.id)).settings.speculative)
    }
}
