import Foundation
import XCTest

@testable import Sessions

/// Never lose a word, in the real terminal: two windows on one session, a system prompt
/// larger than any context, and a sessions folder that vanishes mid-conversation.
extension TmuxEndToEndTests {
    /// A second tmux window (`chat2`) with the same folders as `startHabits`.
    func startSecondWindow(_ command: String) throws {
        let env = [
            "XDG_DATA_HOME=\(root.appendingPathComponent("data").path)", "XDG_CONFIG_HOME=\(root.appendingPathComponent("config").path)",
            "XDG_STATE_HOME=\(root.appendingPathComponent("state").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8", "NO_COLOR=", "APP=\(habitsBinary)"
        ]
        let cmd = "cd \(root.appendingPathComponent("work").path) && \(command); echo EXIT2=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "chat2", "-x", "120", "-y", "40"] + env.flatMap { ["-e", $0] } + [cmd])
    }

    func screen2() -> String { (try? tmux(["capture-pane", "-p", "-t", "chat2"])) ?? "" }

    func waitFor2(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ ok: (String) -> Bool) {
        let end = Date().addingTimeInterval(TmuxEndToEndTests.deadline)
        var s = ""
        while Date() < end {
            s = screen2()
            if ok(s) { return }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \(what) in the second window; screen:\n\(s)", file: file, line: line)
    }

    var sessionsDirectory: URL { root.appendingPathComponent("data/sparkchat/sessions") }

    /// The session's lock makes a second window read-only: it shows the conversation, says
    /// why it will not write, refuses to send, and every turn of the first window is kept.
    func testASecondWindowOnOneSessionIsReadOnlyAndLosesNothing() throws {
        try startHabits("$APP --model alpha")
        waitFor("model alpha ready")
        try chat("First window speaks.", expectModel: "alpha", replies: 1)
        let store = try SessionStore(directory: sessionsDirectory)
        let id = try XCTUnwrap(store.list().sessions.first).id

        try startSecondWindow("$APP --model alpha --session \(id)")
        waitFor2("the read-only notice") { $0.contains("read-only: this session is open in another window") && $0.contains("First window speaks.") }
        waitFor2("read-only in the title") { $0.contains("· read-only") }
        try tmux(["send-keys", "-t", "chat2", "-l", "Second window speaks."]); try tmux(["send-keys", "-t", "chat2", "Enter"])
        waitFor2("sending refused, the text kept") { $0.contains("read-only: this session") && $0.contains("› Second window speaks.") }

        try tmux(["send-keys", "-t", "chat2", "C-c"]); try tmux(["send-keys", "-t", "chat2", "C-c"])
        waitFor2("second window closed") { $0.contains("EXIT2=0") }
        // (capture-pane without a target reads the newest session: the second one goes first.)
        try tmux(["kill-session", "-t", "chat2"])
        try chat("First window again.", expectModel: "alpha", replies: 2)
        try type("/quit"); try keys("Enter")
        waitFor("EXIT=0")

        let saved = try store.load(id: id)
        XCTAssertEqual(saved.messages.filter { $0.role == .user }.map(\.text), ["First window speaks.", "First window again."])
        XCTAssertEqual(saved.messages.count, 4, "both replies kept")
        // The lock went with the windows: a third one may write.
        XCTAssertTrue(try store.lock(id: id))
    }

    /// A 10 MB system prompt in config.json: keys echo at once, sending is refused with the
    /// prompt's size, and Ctrl-C twice quits within two seconds.
    func testAHugeSystemPromptIsRefusedAndTheUIStaysLive() throws {
        let prompt = String(repeating: "Be helpful. ", count: 900_000)
        let config = try JSONSerialization.data(withJSONObject: ["system_prompt": prompt, "temperature": 0, "max_tokens": 6])
        try config.write(to: root.appendingPathComponent("config/sparkchat/config.json"))
        try startHabits("$APP --model alpha")
        waitFor("model alpha ready")
        let typed = Date()
        try type("hello")
        waitFor("the keys echo") { $0.contains("› hello") }
        XCTAssertLessThan(Date().timeIntervalSince(typed), 3, "typing took too long")
        try keys("Enter")
        waitFor("the refusal with the size") { $0.contains("the system prompt is 10.8 MB, more than the model's context") }
        XCTAssertTrue(screen().contains("› hello"), "the message stays in the input")
        let quit = Date()
        try keys("C-c"); try keys("C-c")
        waitFor("EXIT=0")
        XCTAssertLessThan(Date().timeIntervalSince(quit), 2.5, "Ctrl-C twice must quit at once")
    }

    /// The sessions folder disappears mid-conversation (as a full or unmounted disk would
    /// make saving fail): the turns stay on screen, and quitting writes them to the fallback
    /// copy, names it on stderr and exits non-zero.
    func testTurnsThatCannotBeSavedGoToTheFallbackCopyOnQuit() throws {
        try startHabits("$APP --model alpha")
        waitFor("model alpha ready")
        try chat("Saved before the disk fails.", expectModel: "alpha", replies: 1)
        let fm = FileManager.default
        try fm.moveItem(at: sessionsDirectory, to: root.appendingPathComponent("data/sparkchat/sessions.gone"))
        try Data("not a folder".utf8).write(to: sessionsDirectory)
        try chat("Typed while saving fails.", expectModel: "alpha", replies: 2)
        waitFor("the save failure is shown") { $0.contains("cannot save the session") }
        try type("/quit"); try keys("Enter")
        waitFor("EXIT=1")
        let s = screen()
        XCTAssertTrue(s.contains("could not be saved") && s.contains("its turns are in"), s)
        let unsaved = root.appendingPathComponent("state/sparkchat/unsaved")
        let files = try fm.contentsOfDirectory(atPath: unsaved.path).filter { $0.hasSuffix(".json") }
        XCTAssertEqual(files.count, 1, "\(files)")
        let copy = try SessionFile.decode(Data(contentsOf: unsaved.appendingPathComponent(files[0])))
        XCTAssertEqual(copy.messages.filter { $0.role == .user }.map(\.text), ["Saved before the disk fails.", "Typed while saving fails."])
        XCTAssertTrue(s.contains(files[0]), "the error names the copy\n\(s)")
    }
}
