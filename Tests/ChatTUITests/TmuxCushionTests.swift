import Foundation
import Inference
import XCTest

/// `chat --cushion`: the CushionCache prefix is cached before every reply of the model it
/// was searched for, and never appears in the transcript.
extension TmuxEndToEndTests {
    /// The context used after one reply to "Hello there", with the given extra arguments.
    func contextAfterOneReply(_ arguments: String, expectNotice notice: String) throws -> Int {
        try startHabits("$APP --model alpha \(arguments)")
        waitFor(notice)
        try chat("Hello there", expectModel: "alpha", replies: 1)
        let s = screen()
        let used = s.range(of: #"ctx [0-9]+/"#, options: .regularExpression).flatMap { Int(s[$0].dropFirst(4).dropLast()) }
        XCTAssertFalse(s.contains("Zanzibar"), "the cushion's text is never shown\n\(s)")
        try type("/quit"); try keys("Enter")
        waitFor("EXIT=0")
        _ = try? tmux(["kill-session", "-t", "chat"])
        return try XCTUnwrap(used, "no context meter on screen\n\(s)")
    }

    func testCushionPrefixIsCachedBeforeEveryReplyAndNeverShown() throws {
        let model = try LoadedModel.load(path: HeadlessCommandTests.modelPath)
        let words = model.tokenizer.encode(" Zanzibar Zanzibar Zanzibar", addBOS: false)
        let ids = [model.tokenizer.bosId] + words
        func cushion(for name: String) throws -> String {
            let path = root.appendingPathComponent("\(name).cushion.json").path
            try CushionFile(
                model: name, objective: "test", prefixIds: ids, prefixText: "<bos> Zanzibar Zanzibar Zanzibar", baselineLoss: 1,
                steps: ids.map { .init(token: $0, text: "", loss: 1) }, candidates: ids, calibrationTokens: 0
            ).write(to: path)
            return path
        }
        let plain = try contextAfterOneReply("", expectNotice: "model alpha ready")
        let cushioned = try contextAfterOneReply(
            "--cushion \(try cushion(for: "alpha.gguf"))", expectNotice: "cushion: \(ids.count)-token prefix cached before every reply")
        // The cushion takes the place of BOS: the context holds its other tokens as well.
        XCTAssertEqual(cushioned, plain + ids.count - 1)
        // A cushion searched for another model is not used, and the chat says so.
        let other = try contextAfterOneReply(
            "--cushion \(try cushion(for: "beta.gguf"))", expectNotice: "was searched for beta.gguf, not alpha.gguf: not used")
        XCTAssertEqual(other, plain)
    }
}
