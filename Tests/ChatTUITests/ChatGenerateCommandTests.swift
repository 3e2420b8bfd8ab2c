import Foundation
import XCTest

/// `generate --chat` as scripts and users drive it: what a user gets without flags is a
/// reply that ends by itself; the format, stop strings and stdin are the contract.
extension HeadlessCommandTests {
    /// The done object of a --json run.
    func done(_ o: Output) throws -> [String: Any] {
        let last = try XCTUnwrap(o.stdout.split(separator: "\n").last, o.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
    }

    func text(_ o: Output) -> String {
        o.stdout.split(separator: "\n").dropLast().compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["text"] as? String
        }.joined()
    }

    func testChatRepliesOfTheBaseModelEndByThemselvesWithTheDefaults() throws {
        try requireModel()
        for (prompt, answer) in [("What is the capital of France?", "Paris"), ("Hello! Who are you?", nil)] {
            for temperature in ["0", "0.7"] {
                let o = try run(
                    "generate", "--model", HeadlessCommandTests.modelPath, "--chat", "--prompt", prompt,
                    "--temperature", temperature, "--seed", "7", "--json")
                XCTAssertEqual(o.status, 0, o.stderr)
                let d = try done(o)
                XCTAssertEqual(d["format"] as? String, "dialogue")
                let stop = d["stop"] as? String
                XCTAssertTrue(stop == "stop_string" || stop == "end_of_turn" || stop == "eos", "\(prompt) @\(temperature): \(d)")
                let reply = text(o)
                XCTAssertFalse(reply.contains("User:") || reply.contains("Assistant:"), reply)
                XCTAssertEqual(reply, reply.trimmingCharacters(in: .whitespacesAndNewlines))
                XCTAssertFalse(reply.isEmpty)
                if let a = answer, temperature == "0" { XCTAssertTrue(reply.contains(a), reply) }
            }
        }
    }

    func testRawGenerateKeepsThePlainSampler() throws {
        try requireModel()
        // No --chat: no stop strings, no penalties, no loop guard: greedy runs to the limit.
        let o = try run(
            "generate", "--model", HeadlessCommandTests.modelPath, "--prompt", "User: Hi\nAssistant:",
            "--temperature", "0", "--max-tokens", "40", "--json")
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertEqual(try done(o)["stop"] as? String, "max_tokens")
        XCTAssertEqual(try done(o)["format"] as? NSNull, NSNull())
    }

    func testStopStringsAndFormatsFromTheCommandLine() throws {
        try requireModel()
        let m = HeadlessCommandTests.modelPath
        // A user stop string ends the reply before it, and is not shown.
        let o = try run(
            "generate", "--model", m, "--chat", "--prompt", "What is the capital of France?",
            "--temperature", "0", "--stop", "Paris", "--json")
        XCTAssertEqual(try done(o)["stop"] as? String, "stop_string")
        XCTAssertFalse(text(o).contains("Paris"), text(o))
        // An explicit markup runs (the base model's own choice is the frame).
        let g = try run(
            "generate", "--model", m, "--chat", "--format", "gemma", "--prompt", "Hi", "--temperature", "0",
            "--max-tokens", "8", "--json")
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertEqual(try done(g)["format"] as? String, "gemma")
        assertOneLineError(try run("generate", "--model", m, "--chat", "--format", "no-such-frame", "--prompt", "Hi"), "not found")
        assertOneLineError(try run("generate", "--model", m, "--format", "gemma", "--prompt", "Hi"), "--format needs --chat")
        assertOneLineError(try run("generate", "--model", m, "--chat", "--format", "template", "--prompt", "Hi"), "no chat template")
    }

    func testThePromptComesFromStdin() throws {
        try requireModel()
        // stdin is /dev/null here: `--prompt -` reads it and finds nothing.
        assertOneLineError(try run("generate", "--model", HeadlessCommandTests.modelPath, "--chat", "--prompt", "-"), "empty")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [
            "-c",
            "echo 'What is the capital of Italy?' | '\(HeadlessCommandTests.binary)' generate --model '\(HeadlessCommandTests.modelPath)' --chat --temperature 0"
        ]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("Rome"), String(decoding: data, as: UTF8.self))
    }
}
