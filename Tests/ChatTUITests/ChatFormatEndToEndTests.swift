import Foundation
import XCTest

/// The first thing a user does: open the chat on the default (pretrained) model and ask
/// a question. The reply must end by itself (the dialogue frame's next "User:" marker
/// ends it, never shown), and the stats panel says which format the model runs with.
extension TmuxEndToEndTests {
    func testFirstQuestionOnTheDefaultModelGetsAReplyThatEndsByItself() throws {
        let config = root.appendingPathComponent("config")
        // Greedy and a generous limit: the reply must stop well before it.
        try Data(#"{"temperature": 0, "max_tokens": 200}"#.utf8).write(to: config.appendingPathComponent("sparkchat/config.json"))
        let env = [
            "XDG_DATA_HOME=\(root.appendingPathComponent("data").path)", "XDG_CONFIG_HOME=\(config.path)",
            "XDG_STATE_HOME=\(root.appendingPathComponent("state").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8"
        ]
        let command = "cd \(root.appendingPathComponent("work").path) && \(HeadlessCommandTests.binary) chat --model alpha; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "chat", "-x", "120", "-y", "40"] + env.flatMap { ["-e", $0] } + [command])
        waitFor("model alpha ready")
        waitFor("format in the stats panel") { $0.contains("format    dialogue (base model)") }

        try chat("What is the capital of France?", expectModel: "alpha", replies: 1)
        let s = screen()
        XCTAssertTrue(s.contains("Paris"), s)
        // Ended by itself: well under the 200-token limit, and no turn marker shown.
        let tokens = s.components(separatedBy: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: #"tokens +[0-9]+"#, options: .regularExpression) else { return nil }
            return Int(line[r].split(separator: " ").last!)
        }.first
        XCTAssertNotNil(tokens, s)
        XCTAssertLessThan(tokens ?? 999, 60, s)
        XCTAssertFalse(s.contains("User:"), s)
        XCTAssertFalse(s.contains("Assistant:"), s)
        XCTAssertFalse(s.contains("repeating itself"), s)
        try keys("C-c"); try keys("C-c")
        waitFor("EXIT=0")
    }
}
