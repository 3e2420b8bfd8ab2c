import Foundation
import XCTest

/// `sparkchat chat` before the screen is taken: bad options and a missing terminal
/// give one-line errors and a non-zero exit, never a broken terminal.
final class ChatCommandTests: XCTestCase {
    struct Output { var status: Int32; var stderr: String }

    func run(_ args: [String], env extra: [String: String] = [:]) throws -> Output {
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else {
            throw XCTSkip("release binary not built at \(HeadlessCommandTests.binary)")
        }
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("sc-chat-err-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in extra { environment[k] = v }
        let argv: [UnsafeMutablePointer<CChar>?] = ([HeadlessCommandTests.binary] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pid: pid_t = 0
        XCTAssertEqual(posix_spawn(&pid, HeadlessCommandTests.binary, &actions, nil, argv, envp), 0)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Output(status: (status >> 8) & 0xff, stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    func assertOneLineError(_ o: Output, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(o.status, 0, file: file, line: line)
        XCTAssertEqual(o.stderr.split(separator: "\n").count, 1, o.stderr, file: file, line: line)
        XCTAssertTrue(o.stderr.hasPrefix("sparkchat: error: ") && o.stderr.contains(text), o.stderr, file: file, line: line)
    }

    func testBadOptionsAreOneLineErrors() throws {
        assertOneLineError(try run(["chat", "--max-tokens", "0"]), contains: "--max-tokens")
        assertOneLineError(try run(["chat", "--sparsity", "lots"]), contains: "--sparsity")
        assertOneLineError(try run(["chat", "--temperature", "-1"]), contains: "--temperature")
        assertOneLineError(try run(["chat", "--speculative", "turbo"]), contains: "--speculative")
        assertOneLineError(try run(["--theme", "no-such-theme"]), contains: "theme no-such-theme not found")
        assertOneLineError(try run(["chat", "--model", "/nonexistent/model.gguf"]), contains: "model not found")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sc-chat-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: tmp) }
        assertOneLineError(try run(["chat", "--session", "no-such-session"], env: ["XDG_DATA_HOME": tmp.path]), contains: "no-such-session")
        assertOneLineError(try run(["chat", "--session", "../../etc/passwd"], env: ["XDG_DATA_HOME": tmp.path]), contains: "invalid session id")
    }

    /// The command line follows the rules config.json and session files do (SettingsValidation):
    /// values the chat would drop there are one-line errors naming the option, for chat and generate.
    func testOptionsFollowTheSettingsRules() throws {
        assertOneLineError(try run(["chat", "--temperature", "1e300"]), contains: "--temperature must be in 0...5")
        assertOneLineError(try run(["chat", "--max-tokens", "99999999999"]), contains: "--max-tokens must be in 1...1048576")
        assertOneLineError(try run(["chat", "--sparsity", "stat-topk:NaN"]), contains: "--sparsity")
        assertOneLineError(try run(["chat", "--speculative", "model:/etc/passwd"]), contains: "--speculative names a drafter that is not a GGUF file")
        assertOneLineError(try run(["generate", "--model", "x", "--prompt", "a", "--temperature", "50"]), contains: "--temperature must be in 0...5")
        assertOneLineError(try run(["generate", "--model", "x", "--prompt", "a", "--top-k", "1000000000000"]), contains: "--top-k must be in")
        assertOneLineError(try run(["generate", "--model", "x", "--prompt", "a", "--repeat-penalty", "1e300"]), contains: "--repeat-penalty must be in")
        assertOneLineError(
            try run(["generate", "--model", "x", "--prompt", "a", "--speculative", "model:/nonexistent.gguf"]),
            contains: "--speculative names a drafter that does not exist")
    }

    func testWithoutATerminalTheChatSaysSo() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sc-chat-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: tmp) }
        assertOneLineError(
            try run(
                [],
                env: [
                    "XDG_DATA_HOME": tmp.path, "XDG_CONFIG_HOME": tmp.path,
                    "SPARKCHAT_MODELS": URL(fileURLWithPath: HeadlessCommandTests.modelPath).deletingLastPathComponent().path
                ]),
            contains: "needs a terminal")
    }
}
