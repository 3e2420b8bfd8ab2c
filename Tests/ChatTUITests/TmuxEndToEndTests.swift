import Foundation
import Sessions
import XCTest

/// The chat in a real terminal: tmux runs the release binary in a 120x60 window (tall
/// enough that the whole conversation stays in view); keys go in with `send-keys` /
/// `paste-buffer -p`, the screen comes back with `capture-pane -p`. Replies come from
/// the real model (greedy, 6 tokens), and two catalog names (symlinks to the one GGUF) stand in for two models. Each step polls
/// the screen against a deadline instead of sleeping.
final class TmuxEndToEndTests: XCTestCase {
    var socket = ""
    var root: URL!
    static let deadline: TimeInterval = 30

    override func setUpWithError() throws {
        guard let tmux = TmuxEndToEndTests.which("tmux") else { throw XCTSkip("tmux is not installed: skipping the terminal end-to-end tests") }
        _ = tmux
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else {
            throw XCTSkip("release binary not built at \(HeadlessCommandTests.binary)")
        }
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sc-tmux-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        for d in ["models", "data", "config/sparkchat", "work"] {
            try fm.createDirectory(at: root.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        for name in ["alpha", "beta"] {
            try fm.createSymbolicLink(
                atPath: root.appendingPathComponent("models/\(name).gguf").path,
                withDestinationPath: HeadlessCommandTests.modelPath)
        }
        // The theme comes from the config file (and must load: a missing theme is a notice).
        try Data(#"{"theme": "high-contrast", "temperature": 0, "max_tokens": 6}"#.utf8)
            .write(to: root.appendingPathComponent("config/sparkchat/config.json"))
        socket = root.appendingPathComponent("tmux.sock").path
    }

    override func tearDown() {
        if !socket.isEmpty { _ = try? tmux(["kill-server"]) }
        if let r = root { try? FileManager.default.removeItem(at: r) }
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs a tmux client command with posix_spawn + waitpid (Foundation's Process
    /// was seen to hang waiting for the tmux client here). Output goes through a file,
    /// not a pipe: the server that `new-session` starts would keep a pipe open.
    @discardableResult
    func tmux(_ args: [String]) throws -> String {
        let outPath = root.appendingPathComponent("tmux-out-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([TmuxEndToEndTests.which("tmux")!, "-u", "-S", socket] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // CI may run without TERM; tmux clients want one even when detached.
        var env = ProcessInfo.processInfo.environment
        if (env["TERM"] ?? "").isEmpty || env["TERM"] == "dumb" { env["TERM"] = "xterm-256color" }
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0]!, &actions, nil, argv, envp)
        guard rc == 0 else { throw XCTSkip("cannot run tmux (posix_spawn \(rc))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    }

    func screen() -> String { (try? tmux(["capture-pane", "-p"])) ?? "" }

    func keys(_ k: String...) throws { try tmux(["send-keys", "-t", "chat"] + k) }
    func type(_ text: String) throws { try tmux(["send-keys", "-t", "chat", "-l", text]) }

    /// Polls the screen until `ok` holds; fails with the last screen otherwise.
    @discardableResult
    func waitFor(
        _ what: String, timeout: TimeInterval = deadline, file: StaticString = #filePath, line: UInt = #line,
        _ ok: (String) -> Bool
    ) -> String {
        let end = Date().addingTimeInterval(timeout)
        var s = ""
        while Date() < end {
            s = screen()
            if ok(s) { return s }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \(what); screen:\n\(s)", file: file, line: line)
        return s
    }

    func waitFor(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        waitFor("\"\(text)\"", file: file, line: line) { $0.contains(text) }
    }

    /// Sends a message and waits for the reply to finish (the title bar's
    /// "generating" tag goes away and the reply header carries its token count).
    func chat(_ text: String, expectModel model: String, replies: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        try type(text); try keys("Enter")
        waitFor("reply \(replies) from \(model)", file: file, line: line) { s in
            !s.contains("● generating") && s.components(separatedBy: "▌ \(model) · ").count - 1 >= replies
                && s.contains(" tok/s")
        }
    }

    func testChatSwitchModelsStatsExportResizeAndQuit() throws {
        let data = root.appendingPathComponent("data").path
        let env = [
            "XDG_DATA_HOME=\(data)", "XDG_CONFIG_HOME=\(root.appendingPathComponent("config").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8",
            "NO_COLOR="
        ]  // the test runner may export NO_COLOR; empty means colours on
        let command = "cd \(root.appendingPathComponent("work").path) && \(HeadlessCommandTests.binary) chat --model alpha; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "chat", "-x", "120", "-y", "60"] + env.flatMap { ["-e", $0] } + [command])
        try? tmux(["set-option", "-g", "set-clipboard", "on"])
        waitFor("model alpha ready")
        // The load time, in the notice and in the stats panel.
        waitFor("load time") { s in
            s.range(of: #"loaded alpha in [0-9]+ ms: model alpha ready"#, options: .regularExpression) != nil
                && s.range(of: #"loaded in [0-9]+ ms"#, options: .regularExpression) != nil
        }
        waitFor("config settings") { $0.contains("temp 0.0 · max 6") }
        // The config's theme is drawn in 256 colours (the high-contrast status bar is 226 on 16).
        let coloured = (try? tmux(["capture-pane", "-p", "-e", "-t", "chat"])) ?? ""
        XCTAssertTrue(coloured.contains("38;5;") || coloured.contains("48;5;"), "no 256-colour cells: \(coloured.prefix(300).debugDescription)")

        try type("/system Answer briefly."); try keys("Enter")
        waitFor("system prompt shown") { $0.contains("system prompt set") && $0.contains("▌ system · ") && $0.contains("Answer briefly.") }

        // 1. A reply from alpha, with the stats panel showing the dense truth.
        try chat("Hello there", expectModel: "alpha", replies: 1)
        // The panel's rows may be drawn a moment after the reply's footer: wait for them.
        var s = waitFor("the dense stats of the reply") { $0.contains("FFN active 100.0%") && $0.contains("tokens    6") }
        let ctx1 = contextUsed(s)
        XCTAssertGreaterThan(ctx1, 10)

        // 2. Switch through the picker (F2): the next reply comes from beta.
        try keys("F2")
        waitFor("models —")
        XCTAssertTrue(screen().contains("● alpha"))
        try keys("Down"); try keys("Enter")
        waitFor("switched to beta")
        XCTAssertNotNil(screen().range(of: #"loaded beta in [0-9]+ ms: switched to beta"#, options: .regularExpression), screen())
        try chat("And you?", expectModel: "beta", replies: 1)
        XCTAssertGreaterThan(contextUsed(screen()), ctx1, "the new model re-read the whole conversation")

        // 3. Switch back with /model and turn sparsity on: the panel changes.
        try type("/model alpha"); try keys("Enter")
        waitFor("switched to alpha")
        try type("/sparsity 0.5"); try keys("Enter")
        waitFor("sparsity  stat-topk:0.5")
        try chat("Once more", expectModel: "alpha", replies: 2)
        s = screen()
        let active = activeFraction(s)
        XCTAssertLessThan(active, 90, "stat-topk:0.5 keeps about half the neurons\n\(s)")
        XCTAssertGreaterThan(active, 20, s)
        try keys("F3")
        waitFor("stats panel hidden") { !$0.contains("stats (F3)") }
        try keys("F3")
        waitFor("stats (F3)")

        // 4. A bracketed paste is one input: its lines are not sent one by one.
        let pasteFile = root.appendingPathComponent("paste.txt")
        try Data("first pasted line\nsecond pasted line".utf8).write(to: pasteFile)
        try tmux(["load-buffer", "-b", "p", pasteFile.path])
        try tmux(["paste-buffer", "-p", "-b", "p", "-t", "chat"])
        waitFor("pasted text in the input") { $0.contains("› first pasted line") && $0.contains("  second pasted line") }
        XCTAssertEqual(screen().components(separatedBy: "▌ you · ").count - 1, 3, "the paste was sent")
        try keys("Enter")
        waitFor("reply to the paste") { !$0.contains("● generating") && $0.components(separatedBy: "▌ you · ").count - 1 == 4 && !$0.contains("› first") }
        waitFor("reply done") { !$0.contains("● generating") && !$0.contains("writing…") }

        // 5. Export and copy.
        let export = root.appendingPathComponent("work/out.md").path
        try type("/export md \(export)"); try keys("Enter")
        waitFor("exported to")
        let md = try String(contentsOfFile: export, encoding: .utf8)
        XCTAssertTrue(md.contains("Hello there") && md.contains("second pasted line"), md)
        try type("/copy"); try keys("Enter")
        waitFor("/copy notice") { $0.contains("sent the last reply") || $0.contains("copied the last reply") }

        // 6. Scrollback in a short window: PgUp, the mouse wheel and End.
        try tmux(["resize-window", "-t", "chat", "-x", "80", "-y", "12"])
        waitFor("short window") { $0.split(separator: "\n", omittingEmptySubsequences: false).count <= 13 }
        try keys("PageUp")
        waitFor("scrolled up") { $0.contains("more (End)") }
        try keys("End")
        waitFor("back at the bottom") { !$0.contains("more (End)") }
        try type("\u{1b}[<64;5;5M")  // an SGR mouse report: wheel up
        waitFor("wheel scrolled") { $0.contains("↓ 3 more (End)") }
        try keys("End")
        waitFor("back at the bottom") { !$0.contains("more (End)") }

        // 7. Resize storms and tiny windows redraw without crashing.
        for (w, h) in [(10, 3), (3, 1), (40, 8), (200, 60), (1, 1), (80, 24)] {
            try tmux(["resize-window", "-t", "chat", "-x", "\(w)", "-y", "\(h)"])
        }
        waitFor("redraw at 80x24") { $0.hasPrefix(" SparkChat · alpha") && $0.contains("› ") }
        try tmux(["resize-window", "-t", "chat", "-x", "10", "-y", "3"])
        waitFor("redraw at 10x3") { $0.split(separator: "\n").first.map { $0.hasPrefix(" SparkChat") } ?? false }
        try tmux(["resize-window", "-t", "chat", "-x", "120", "-y", "40"])

        // 8. Sessions: /clear starts a new one; F4 lists the saved one, r renames it,
        //    Enter opens it again with its whole transcript.
        try type("/clear"); try keys("Enter")
        waitFor("new session") { $0.contains("new session") && !$0.contains("Hello there") }
        try keys("F4")
        waitFor("sessions —")
        try keys("r"); try keys("C-u"); try type("Dragons and tea"); try keys("Enter")
        waitFor("renamed") { $0.contains("Dragons and tea") && $0.contains("sessions —") }
        try keys("Enter")
        waitFor("reopened") { $0.contains("opened Dragons and tea") && $0.contains("SparkChat · alpha · Dragons and tea") }
        try keys("End")

        // 9. Help, then quit with /quit.
        try keys("F1")
        waitFor("help — any key closes")
        try keys("Escape")
        waitFor("help closed") { !$0.contains("help — any key closes") }
        try type("/quit"); try keys("Enter")
        waitFor("EXIT=0")

        // The saved session: every message, each reply with the model that wrote it.
        let store = try SessionStore(directory: URL(fileURLWithPath: data).appendingPathComponent("sparkchat/sessions"))
        let list = store.list().sessions
        XCTAssertEqual(list.count, 1)
        let c = try store.load(id: try XCTUnwrap(list.first).id)
        XCTAssertEqual(c.messages.map(\.role), [.user, .assistant, .user, .assistant, .user, .assistant, .user, .assistant])
        XCTAssertEqual(c.messages.filter { $0.role == .assistant }.map(\.model), ["alpha", "beta", "alpha", "alpha"])
        XCTAssertEqual(c.messages[6].text, "first pasted line\nsecond pasted line")
        XCTAssertEqual(c.model, "alpha")
        XCTAssertEqual(c.title, "Dragons and tea")
        XCTAssertEqual(c.systemPrompt, "Answer briefly.")
        XCTAssertEqual(c.settings.sparsity, "stat-topk:0.5")
        for m in c.messages where m.role == .assistant {
            XCTAssertFalse(m.interrupted)
            XCTAssertEqual(m.stats?.generatedTokens, 6)
            XCTAssertFalse(m.text.isEmpty)
        }
        XCTAssertEqual(c.messages[1].stats?.meanActiveFFN ?? 0, 1, accuracy: 1e-9, "dense model, sparsity off")
        XCTAssertLessThan(c.messages[5].stats?.meanActiveFFN ?? 1, 0.9)
    }

    /// Esc stops a long reply (kept, marked interrupted); a megabyte paste is cut to
    /// the input limit without hanging; NO_COLOR on an 8-colour terminal draws no colour;
    /// Ctrl-C twice quits.
    func testEscInterruptsHugePasteNoColorAndCtrlCTwice() throws {
        let data = root.appendingPathComponent("data").path
        let env = [
            "XDG_DATA_HOME=\(data)", "XDG_CONFIG_HOME=\(root.appendingPathComponent("config").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8", "NO_COLOR=1"
        ]
        let command = "TERM=screen \(HeadlessCommandTests.binary) --model beta --max-tokens 400 --theme dark; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "chat", "-x", "100", "-y", "30"] + env.flatMap { ["-e", $0] } + [command])
        waitFor("model beta ready")
        let plain = try tmux(["capture-pane", "-p", "-e", "-t", "chat"])
        XCTAssertNil(
            plain.range(of: #"[\[;](3[0-7]|4[0-7]|38;5;[0-9]+|48;5;[0-9]+)[;m]"#, options: .regularExpression),
            "NO_COLOR drew colours: \(plain.prefix(300).debugDescription)")

        try type("Write a long story about a dragon."); try keys("Enter")
        waitFor("a few tokens") { s in
            guard let r = s.range(of: "● generating ") else { return false }
            return (Int(s[r.upperBound...].prefix { $0.isNumber }) ?? 0) >= 3
        }
        // While it streams: keys are served, and the partial reply is already on disk.
        try type("typed meanwhile")
        waitFor("typing while streaming") { $0.contains("› typed meanwhile") && $0.contains("● generating") }
        let store = try SessionStore(directory: URL(fileURLWithPath: data).appendingPathComponent("sparkchat/sessions"))
        let end = Date().addingTimeInterval(10)
        var partial = ""
        while Date() < end && partial.isEmpty {
            if let id = store.list().sessions.first?.id, let c = try? store.load(id: id), c.messages.count == 2 { partial = c.messages[1].text }
            if partial.isEmpty { usleep(100_000) }
        }
        XCTAssertFalse(partial.isEmpty, "the streaming reply was not autosaved")
        try keys("C-u")
        try keys("Escape")
        waitFor("[interrupted]")
        waitFor("reply stopped") { !$0.contains("● generating") }

        // A 1 MB single-line paste: cut to the limit with a notice, UI still answering.
        let big = root.appendingPathComponent("big.txt")
        try Data(String(repeating: "0123456789abcdef", count: 65_536).utf8).write(to: big)
        try tmux(["load-buffer", "-b", "big", big.path])
        try tmux(["paste-buffer", "-p", "-b", "big", "-t", "chat"])
        waitFor("input cut to 200000 characters")
        try keys("C-u")
        waitFor("input cleared") { $0.contains("Type a message") }

        try keys("C-c")
        waitFor("press Ctrl-C again to quit")
        try keys("C-c")
        waitFor("EXIT=0")

        let c = try store.load(id: try XCTUnwrap(store.list().sessions.first).id)
        XCTAssertEqual(c.messages.count, 2)
        let reply = try XCTUnwrap(c.messages.last)
        XCTAssertTrue(reply.interrupted)
        XCTAssertEqual(reply.model, "beta")
        XCTAssertFalse(reply.text.isEmpty)
        XCTAssertLessThan(reply.stats?.generatedTokens ?? 400, 400)
    }

    /// An 8-colour terminal gets the theme's basic colours (no 256-colour codes); a session is
    /// deleted from the list; speculative decoding (--speculative, then /speculative) shows its
    /// acceptance in the panel and the message; SIGTERM quits cleanly.
    func testEightColourTerminal() throws {
        let env = [
            "XDG_DATA_HOME=\(root.appendingPathComponent("data").path)", "XDG_CONFIG_HOME=\(root.appendingPathComponent("config").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8", "NO_COLOR="
        ]
        // A saved session to delete from the list (F4, d, y).
        let store = try SessionStore(directory: root.appendingPathComponent("data/sparkchat/sessions"))
        var old = Conversation(model: "alpha")
        old.append(Message(role: .user, text: "an old question"))
        try store.save(old)
        let command = "TERM=screen \(HeadlessCommandTests.binary) --model alpha --theme light --speculative lookup; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "chat", "-x", "90", "-y", "24"] + env.flatMap { ["-e", $0] } + [command])
        waitFor("model alpha ready")
        try keys("F4")
        waitFor("an old question")
        try keys("d")
        waitFor("delete confirmation") { $0.contains("y / n") }
        try keys("y")
        waitFor("deleted") { $0.contains("no saved sessions yet") }
        XCTAssertEqual(store.list().sessions.count, 0)
        try keys("Escape")
        waitFor("list closed") { !$0.contains("no saved sessions yet") }
        let s = try tmux(["capture-pane", "-p", "-e", "-t", "chat"])
        XCTAssertNotNil(s.range(of: #"[\[;](3[0-7]|4[0-7])[;m]"#, options: .regularExpression), "no basic colours: \(s.prefix(300).debugDescription)")
        XCTAssertFalse(s.contains("38;5;") || s.contains("48;5;"), "256-colour codes on an 8-colour terminal")

        // Speculative decoding: the option's drafter, then /speculative slice for a reply.
        try tmux(["resize-window", "-t", "chat", "-x", "110", "-y", "40"])
        waitFor("speculate lookup:3@4")
        try type("/speculative slice"); try keys("Enter")
        waitFor("speculative decoding with slice:16384@4")
        waitFor("speculate slice:16384@4")
        try chat("Name three colours.", expectModel: "alpha", replies: 1)
        let spec = waitFor("acceptance rows") { $0.contains("per pass  ") && $0.contains(" tok / target pass") }
        XCTAssertNotNil(spec.range(of: #"accepted  [0-9]+% \([0-9]+/[0-9]+ drafts\)"#, options: .regularExpression), spec)
        XCTAssertTrue(spec.contains("speculative slice:16384@4 · ctx"), "the separator names the drafter\n\(spec)")
        // SIGTERM leaves as /quit does: terminal restored, exit status 0.
        let shell = Int32(try tmux(["display-message", "-p", "-t", "chat", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
        let app = try XCTUnwrap(children.split(separator: " ").first.flatMap { Int32($0) }, "no app process under the pane's shell")
        XCTAssertEqual(kill(app, SIGTERM), 0)
        waitFor("EXIT=0")

        let c = try store.load(id: try XCTUnwrap(store.list().sessions.first).id)
        XCTAssertEqual(c.settings.speculative, "slice:16384@4")
        let reply = try XCTUnwrap(c.messages.last)
        XCTAssertEqual(reply.role, .assistant)
        let acceptance = try XCTUnwrap(reply.stats?.speculativeAcceptance, "the reply's acceptance was not recorded")
        XCTAssertTrue(acceptance >= 0 && acceptance <= 1, "\(acceptance)")
    }

    /// The binary the habits tests run: SPARKCHAT_TEST_BINARY names another build (a
    /// debug one while working), else the release binary every other test runs.
    var habitsBinary: String { ProcessInfo.processInfo.environment["SPARKCHAT_TEST_BINARY"] ?? HeadlessCommandTests.binary }

    /// Starts `command` (run in root/work, the binary as $APP) in a tmux window with the
    /// test's data, config, models and state folders.
    func startHabits(_ command: String, width: Int = 120, height: Int = 40) throws {
        let env = [
            "XDG_DATA_HOME=\(root.appendingPathComponent("data").path)", "XDG_CONFIG_HOME=\(root.appendingPathComponent("config").path)",
            "XDG_STATE_HOME=\(root.appendingPathComponent("state").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8", "NO_COLOR=", "APP=\(habitsBinary)"
        ]
        let cmd = "cd \(root.appendingPathComponent("work").path) && \(command); echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "chat", "-x", "\(width)", "-y", "\(height)"] + env.flatMap { ["-e", $0] } + [cmd])
    }

    /// Alt-b / Alt-f / Alt-Backspace / Alt-d as tmux sends them (ESC + key in one write)
    /// edit by words, and while a reply streams they do not stop it; a lone Esc does.
    func testAltWordKeysEditAndDoNotStopTheReply() throws {
        try startHabits("$APP --model alpha --max-tokens 300")
        waitFor("model alpha ready")
        try type("hello brave new world")
        try keys("M-b"); try keys("M-b"); try type("X")
        waitFor("Alt-b twice, then X") { $0.contains("› hello brave Xnew world") }
        try keys("M-f"); try type("Y")
        waitFor("Alt-f to the end of the word") { $0.contains("› hello brave XnewY world") }
        try keys("M-BSpace")
        waitFor("Alt-Backspace deletes the word") { $0.contains("› hello brave  world") }
        try keys("C-a"); try keys("M-d")
        waitFor("Alt-d deletes the next word") { $0.contains("›  brave  world") }
        try keys("C-Right"); try type("Z")
        waitFor("Ctrl-Right moves a word too") { $0.contains("›  braveZ  world") }
        try keys("C-u")

        try type("Write a long story about a dragon."); try keys("Enter")
        waitFor("a few tokens") { s in
            guard let r = s.range(of: "● generating ") else { return false }
            return (Int(s[r.upperBound...].prefix { $0.isNumber }) ?? 0) >= 3
        }
        try type("one two"); try keys("M-b"); try keys("M-b"); try keys("M-f"); try type("!")
        let s = waitFor("Alt keys while streaming") { $0.contains("› one! two") }
        XCTAssertTrue(s.contains("● generating"), "Alt-b/Alt-f stopped the reply\n\(s)")
        XCTAssertFalse(s.contains("stopping the reply"), s)
        try keys("Escape")
        waitFor("a lone Esc stops it") { $0.contains("[interrupted]") && !$0.contains("● generating") }
        try keys("C-c"); try keys("C-c")
        waitFor("EXIT=0")
    }

    /// The input history outlives the chat: two runs share $XDG_STATE_HOME/sparkchat/history,
    /// Up recalls the last run's inputs (a multi-line one whole), Ctrl-R finds an older one.
    func testInputHistoryAcrossRunsAndCtrlR() throws {
        // The shell waits for a line between the runs: otherwise the second run can take
        // the screen before a poll sees RUN1 (it did, on a loaded machine).
        try startHabits("$APP --model alpha; echo RUN1=$?; read -r _; $APP --model alpha")
        waitFor("model alpha ready")
        try type("/temp 0.25"); try keys("Enter")
        waitFor("temperature 0.25")
        try type("/system be terse"); try keys("C-j"); try type("and kind"); try keys("Enter")
        waitFor("system prompt set")
        try type("/quit"); try keys("Enter")
        waitFor("RUN1=0")
        let file = root.appendingPathComponent("state/sparkchat/history")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines, [#""/temp 0.25""#, #""/system be terse\nand kind""#, #""/quit""#])

        try keys("Enter")
        waitFor("second run ready") { $0.contains("model alpha ready") && !$0.contains("RUN1=0") }
        try keys("Up")
        waitFor("Up: the last input of the first run") { $0.contains("› /quit") }
        try keys("Up")
        waitFor("Up: the multi-line entry, whole") { $0.contains("› /system be terse") && $0.contains("  and kind") }
        try keys("C-u"); try keys("BSpace"); try keys("C-u")
        waitFor("input empty") { $0.contains("Type a message") }
        try keys("C-r")
        waitFor("search mode") { $0.contains("search history: type to search") }
        try type("temp")  // not "tem": "/system" holds that
        waitFor("found /temp") { $0.contains("› /temp 0.25") && $0.contains("search history: “temp”") }
        try type("q")
        waitFor("no match") { $0.contains("no match for “tempq”") }
        try keys("BSpace"); try keys("Enter")
        waitFor("accepted into the editor") { $0.contains("› /temp 0.25") && !$0.contains("search history") }
        try keys("C-u"); try keys("C-r"); try type("quit"); try keys("Escape")
        waitFor("cancelled: input as it was") { $0.contains("Type a message") && !$0.contains("search history") }
        try type("/temp 0.5"); try keys("Enter")
        waitFor("temperature 0.5")
        try type("/quit"); try keys("Enter")
        waitFor("EXIT=0")
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8).split(separator: "\n").suffix(2), [#""/temp 0.5""#, #""/quit""#])
    }

    /// /retry replaces the last reply, /edit puts the last message back and sending it
    /// replaces it and its reply; both refuse while a reply streams or with nothing to act on.
    func testRetryAndEditRewriteTheLastTurn() throws {
        try startHabits("$APP --model alpha --max-tokens 40")
        waitFor("model alpha ready")
        try type("/retry"); try keys("Enter")
        waitFor("no reply to retry yet")
        try type("/edit"); try keys("Enter")
        waitFor("no message of yours to edit yet")

        try type("Hello there"); try keys("Enter")
        waitFor("streaming") { $0.contains("● generating") }
        try type("/retry"); try keys("Enter")
        waitFor("/retry: a reply is still coming")
        waitFor("first reply done") { !$0.contains("● generating") && $0.contains("▌ alpha · ") && $0.contains(" tok/s") }
        try type("/retry"); try keys("Enter")
        waitFor("generating the last reply again")
        waitFor("second reply done") { !$0.contains("● generating") && $0.contains(" tok/s") }
        var s = screen()
        XCTAssertEqual(s.components(separatedBy: "▌ alpha · ").count - 1, 1, "the old reply was replaced\n\(s)")

        let store = try SessionStore(directory: root.appendingPathComponent("data/sparkchat/sessions"))
        func saved() throws -> Conversation { try store.load(id: try XCTUnwrap(store.list().sessions.first).id) }
        XCTAssertEqual(try saved().messages.map(\.role), [.user, .assistant])

        try type("/edit"); try keys("Enter")
        waitFor("editing") { $0.contains("› Hello there") && $0.contains("editing your last message") }
        try keys("Escape")
        waitFor("edit cancelled") { $0.contains("edit cancelled") && $0.contains("Type a message") }
        try type("/edit"); try keys("Enter")
        waitFor("editing again") { $0.contains("› Hello there") }
        try keys("C-u"); try type("Name a colour"); try keys("Enter")
        // The cut and the new reply's start are one step: once "Hello there" is gone, the
        // reply is streaming, and "generating" going away means it is done.
        waitFor("edited turn answered") { !$0.contains("Hello there") && !$0.contains("● generating") && !$0.contains("› Name") && $0.contains(" tok/s") }
        s = screen()
        XCTAssertFalse(s.contains("Hello there"), "the edited message replaced the old one\n\(s)")
        XCTAssertEqual(s.components(separatedBy: "▌ you · ").count - 1, 1, s)
        let c = try saved()
        XCTAssertEqual(c.messages.map(\.role), [.user, .assistant])
        XCTAssertEqual(c.messages.first?.text, "Name a colour")
        XCTAssertEqual(c.title, "Name a colour", "the derived title follows the edit")
        XCTAssertFalse(c.messages.last?.text.isEmpty ?? true)
        try type("/quit"); try keys("Enter")
        waitFor("EXIT=0")
    }

    /// /copy runs the desktop's clipboard program (a stand-in xclip here, with DISPLAY
    /// set) and says it did; /copy code N copies the N-th fenced block of the last reply.
    func testCopyUsesTheClipboardToolAndCopiesCodeBlocks() throws {
        let bin = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let got = root.appendingPathComponent("clipboard.txt")
        try Data("#!/bin/sh\n[ \"$1 $2\" = \"-selection clipboard\" ] || exit 9\n/bin/cat > '\(got.path)'\n".utf8)
            .write(to: bin.appendingPathComponent("xclip"))
        chmod(bin.appendingPathComponent("xclip").path, 0o755)
        let store = try SessionStore(directory: root.appendingPathComponent("data/sparkchat/sessions"))
        var c = Conversation(model: "alpha")
        c.append(Message(role: .user, text: "two snippets please"))
        let reply = "First:\n```python\nprint(1)\n```\nSecond:\n```sh\necho two\necho 2\n```\nDone."
        c.append(Message(role: .assistant, text: reply, model: "alpha"))
        try store.save(c)
        try startHabits("DISPLAY=:0 PATH=\(bin.path):$PATH $APP --model alpha --session \(c.id)")
        waitFor("model alpha ready")
        try type("/copy"); try keys("Enter")
        waitFor("copied the last reply (\(reply.count) characters) with xclip")
        XCTAssertEqual(try String(contentsOf: got, encoding: .utf8), reply)
        try type("/copy code 1"); try keys("Enter")
        waitFor("copied code block 1 of 2 (python) with xclip")
        XCTAssertEqual(try String(contentsOf: got, encoding: .utf8), "print(1)")
        try type("/copy code"); try keys("Enter")
        waitFor("copied code block 2 of 2 (sh) with xclip")
        XCTAssertEqual(try String(contentsOf: got, encoding: .utf8), "echo two\necho 2")
        try type("/copy code 3"); try keys("Enter")
        waitFor("the last reply has 2 code blocks, no block 3")
        try type("/quit"); try keys("Enter")
        waitFor("EXIT=0")
    }

    /// A saved reply written in Markdown (so the model need not produce any) is drawn
    /// rendered: no markers, bullets and nesting, an aligned table with wide characters, a
    /// boxed code block with its language, bold in the bold attribute; the user's own
    /// text stays as typed. A narrow window re-wraps it all without overflowing.
    func testMarkdownReplyRendersInTheTerminal() throws {
        let store = try SessionStore(directory: root.appendingPathComponent("data/sparkchat/sessions"))
        var c = Conversation(model: "alpha")
        c.append(Message(role: .user, text: "show me **not bold** please"))
        c.append(
            Message(
                role: .assistant,
                text: """
                    ## Shopping plan
                    This is **Important** and *nice*, with `inline code`.

                    - apples
                      - green ones
                    1. pay

                    | Item | Qty |
                    |------|----:|
                    | pears | 12 |
                    | 日本茶 | 3 |

                    > quoted words

                    ```python
                    print("hi")
                    ```
                    ---
                    The end.
                    """, model: "alpha"))
        try store.save(c)
        try startHabits("$APP --model alpha --session \(c.id)", width: 100, height: 45)
        waitFor("model alpha ready")
        // The rows to compare run to the window's edge, so the stats panel (shown by default
        // at this width) goes first.
        waitFor("stats (F3)")
        try keys("F3")
        let expectedRows = [
            "  Shopping plan", "  This is Important and nice, with inline code.", "  • apples", "    ◦ green ones",
            "  1. pay", "  Item   │ Qty", "  ───────┼────", "  pears  │  12", "  日本茶 │   3", "  │ quoted words",
            "  ┌─ python ────┐", "  │ print(\"hi\") │", "  └─────────────┘", "  The end."
        ]
        func trimmedRows(_ s: String) -> [String] {
            s.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.reversed().drop { $0 == " " }.reversed()) }
        }
        // One wait for the whole redraw: a capture can land while ncurses is still drawing
        // (the panel's title already gone, its lower rows not yet), so one row is not enough.
        let s = waitFor("the rendered reply, stats hidden") { s in
            let rows = trimmedRows(s)
            return !s.contains("stats (F3)") && expectedRows.allSatisfy { rows.contains($0) }
        }
        let rows = trimmedRows(s)
        for expected in expectedRows {
            XCTAssertTrue(rows.contains(expected), "missing row \"\(expected)\" in\n\(s)")
        }
        XCTAssertTrue(rows.contains("  show me **not bold** please"), "the user's text is shown as typed\n\(s)")
        XCTAssertFalse(s.contains("## ") || s.contains("```") || s.contains("|---"), s)
        XCTAssertEqual(
            rows.dropFirst().joined(separator: "\n").components(separatedBy: "**").count, 3,
            "below the title (the session's name), only the user's markers remain\n\(s)")
        // The strong text is drawn bold: an SGR sequence with attribute 1 right before it.
        let coloured = try tmux(["capture-pane", "-p", "-e", "-t", "chat"])
        XCTAssertNotNil(
            coloured.range(of: #"\x1b\[([0-9;]*;)?1(;[0-9;]*)?m(\x1b\[[0-9;]*m)*Important"#, options: .regularExpression),
            "Important is not bold: \(coloured.debugDescription)")
        XCTAssertNil(
            coloured.range(of: #"\x1b\[([0-9;]*;)?1(;[0-9;]*)?m(\x1b\[[0-9;]*m)*nice"#, options: .regularExpression),
            "the italic word is underlined, not bold")
        XCTAssertNotNil(
            coloured.range(of: #"\x1b\[([0-9;]*;)?4(;[0-9;]*)?m(\x1b\[[0-9;]*m)*nice"#, options: .regularExpression),
            "nice is not underlined: \(coloured.debugDescription)")

        // Narrow: everything re-wraps inside 34 columns, the box and table included.
        try tmux(["resize-window", "-t", "chat", "-x", "34", "-y", "45"])
        // One wait for the whole redraw: a capture can land while ncurses is still drawing.
        waitFor("narrow redraw") {
            $0.contains("  This is Important and nice,") && $0.contains("  │ print(\"hi\") │") && $0.contains("  日本茶 │   3")
        }
        try keys("C-c"); try keys("C-c")
        waitFor("EXIT=0")
    }

    func contextUsed(_ s: String) -> Int {
        guard let r = s.range(of: "context   ") else { return -1 }
        return Int(s[r.upperBound...].prefix { $0.isNumber }) ?? -1
    }

    func activeFraction(_ s: String) -> Double {
        guard let r = s.range(of: "FFN active ") else { return -1 }
        return Double(s[r.upperBound...].prefix { $0.isNumber || $0 == "." }) ?? -1
    }
}
