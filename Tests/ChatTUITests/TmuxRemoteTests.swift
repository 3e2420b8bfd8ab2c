import Foundation
import Sessions
import XCTest

/// The chat with a remote model from the fake OpenAI-compatible server: replies stream
/// from it, a local model takes over mid-conversation and back (each reading the whole
/// history), Esc stops a remote reply, and a stream cut mid-reply keeps its text.
extension TmuxEndToEndTests {
    func testRemoteModelSwitchingWithLocalMidConversation() throws {
        let server = try FakeOpenAIServer()
        defer { server.stop() }
        let config = #"{"temperature": 0, "max_tokens": 8, "endpoints": [{"name": "lab", "url": "\#(server.baseURL)"}]}"#
        try Data(config.utf8).write(to: root.appendingPathComponent("config/sparkchat/config.json"))
        let data = root.appendingPathComponent("data").path
        let env = [
            "XDG_DATA_HOME=\(data)", "XDG_CONFIG_HOME=\(root.appendingPathComponent("config").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8", "OPENAI_BASE_URL="
        ]
        let command = "cd \(root.appendingPathComponent("work").path) && \(HeadlessCommandTests.binary) chat --model lab/echo; echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", "chat", "-x", "120", "-y", "60"] + env.flatMap { ["-e", $0] } + [command])
        waitFor("model lab/echo ready")
        waitFor("sparsity n/a in the stats") { $0.contains("sparsity  n/a (remote)") }

        // 1. A remote reply, with the stats a remote engine gives.
        try chat("first question", expectModel: "lab/echo", replies: 1)
        var s = waitFor("the first reply") { $0.contains("echo of 1 messages (user): first question") }
        XCTAssertTrue(s.contains("FFN active n/a"), s)
        XCTAssertTrue(s.range(of: #"usage     [0-9]+ prompt \+ 7 reply tok"#, options: .regularExpression) != nil, s)
        XCTAssertTrue(s.range(of: #"TTFT      [0-9]+ ms"#, options: .regularExpression) != nil, s)

        // 2. The F2 picker lists the remote models beside the local ones.
        try keys("F2")
        s = waitFor("picker") { $0.contains("models —") && $0.contains("lab/slow") }
        XCTAssertTrue(s.contains("alpha") && s.contains("remote"), s)
        try keys("Escape")
        waitFor("the picker closed") { !$0.contains("models —") }

        // 3. A local model goes on with the conversation, then the remote one again: it is
        // sent every turn, the local reply included.
        try type("/model alpha"); try keys("Enter")
        waitFor("switched to alpha")
        try chat("second", expectModel: "alpha", replies: 1)
        try type("/model lab/echo"); try keys("Enter")
        waitFor("switched to lab/echo")
        try chat("third", expectModel: "lab/echo", replies: 2)
        waitFor("echo of 5 messages (user,assistant,user,assistant,user): third")

        // 4. Esc stops a remote reply: kept, marked interrupted.
        try type("/model lab/slow"); try keys("Enter")
        waitFor("switched to lab/slow")
        try type("go on"); try keys("Enter")
        waitFor("ticks") { $0.contains("tick tick tick") }
        try keys("Escape")
        waitFor("[interrupted]")

        // 5. A stream cut mid-reply: a one-line notice, the partial reply kept.
        try type("/model lab/cut"); try keys("Enter")
        waitFor("switched to lab/cut")
        try type("and now"); try keys("Enter")
        s = waitFor("the cut notice") { $0.contains("the stream was cut mid-reply (the reply so far is kept") }
        XCTAssertTrue(s.contains("partial reply so"), s)

        try type("/quit"); try keys("Enter")
        waitFor("EXIT=0")
        let store = try SessionStore(directory: URL(fileURLWithPath: data).appendingPathComponent("sparkchat/sessions"))
        let c = try store.load(id: try XCTUnwrap(store.list().sessions.first).id)
        let replies = c.messages.filter { $0.role == .assistant }
        XCTAssertEqual(replies.map(\.model), ["lab/echo", "alpha", "lab/echo", "lab/slow", "lab/cut"])
        XCTAssertEqual(replies.map(\.interrupted), [false, false, false, true, true])
        XCTAssertEqual(replies[4].text, "partial reply so")
        XCTAssertEqual(replies[0].stats?.generatedTokens, 7)
        XCTAssertEqual(c.messages.filter { $0.role == .user }.count, 5, "no message of the user is lost")
    }
}
