import Foundation
import XCTest

/// A private tmux server running the release binary in one or more windows (each a tmux
/// session, named), with its own data, config, state and models folders under `root`.
/// Keys go in with `send-keys`, screens come back with `capture-pane -p`; every wait polls
/// the screen against a deadline instead of sleeping.
final class TmuxDriver {
    let root: URL
    let socket: String
    static let deadline: TimeInterval = 30

    /// Skips the test when tmux, the release binary or the model is missing. Two catalog
    /// names (symlinks to the one GGUF), `alpha` and `beta`, stand in for two models; the
    /// config asks for greedy 6-token replies unless `config` says otherwise.
    init(config: String = #"{"temperature": 0, "max_tokens": 6}"#) throws {
        guard TmuxEndToEndTests.which("tmux") != nil else { throw XCTSkip("tmux is not installed") }
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else {
            throw XCTSkip("release binary not built at \(HeadlessCommandTests.binary)")
        }
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        root = FileManager.default.temporaryDirectory.appendingPathComponent("sc-tmux-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        for d in ["models", "data/sparkchat/sessions", "config/sparkchat", "state", "work"] {
            try fm.createDirectory(at: root.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        for name in ["alpha", "beta"] {
            try fm.createSymbolicLink(
                atPath: root.appendingPathComponent("models/\(name).gguf").path,
                withDestinationPath: HeadlessCommandTests.modelPath)
        }
        socket = root.appendingPathComponent("tmux.sock").path
        try Data(config.utf8).write(to: configFile)
    }

    var configFile: URL { root.appendingPathComponent("config/sparkchat/config.json") }
    var sessionsDirectory: URL { root.appendingPathComponent("data/sparkchat/sessions") }

    /// Ends the tmux server and removes every file of the test.
    func close() {
        _ = try? tmux(["kill-server"])
        try? FileManager.default.removeItem(at: root)
    }

    /// Starts `command` (the binary is $APP) in a new window named `name`; the shell then
    /// prints EXIT=<status> and the time it took as SECS=<s>, and stays on screen.
    func start(_ name: String, _ command: String, width: Int = 120, height: Int = 40) throws {
        let env = [
            "XDG_DATA_HOME=\(root.appendingPathComponent("data").path)", "XDG_CONFIG_HOME=\(root.appendingPathComponent("config").path)",
            "XDG_STATE_HOME=\(root.appendingPathComponent("state").path)",
            "SPARKCHAT_MODELS=\(root.appendingPathComponent("models").path)", "LANG=C.UTF-8", "NO_COLOR=",
            "APP=\(HeadlessCommandTests.binary)"
        ]
        let cmd = "cd \(root.appendingPathComponent("work").path) && \(command); echo EXIT=$?; sleep 60"
        try tmux(["new-session", "-d", "-s", name, "-x", "\(width)", "-y", "\(height)"] + env.flatMap { ["-e", $0] } + [cmd])
    }

    /// Runs a tmux client with posix_spawn + waitpid (Foundation's Process was seen to hang
    /// on the tmux client); output goes through a file, since the server keeps pipes open.
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

    /// `name:` is the current window of session `name` (a bare name could match a window
    /// of another session).
    func screen(_ name: String) -> String { (try? tmux(["capture-pane", "-p", "-t", name + ":"])) ?? "" }
    func keys(_ name: String, _ k: String...) throws { try tmux(["send-keys", "-t", name + ":"] + k) }
    func type(_ name: String, _ text: String) throws { try tmux(["send-keys", "-t", name + ":", "-l", text]) }

    /// Polls `name`'s screen until `ok` holds; fails with the last screen otherwise.
    @discardableResult
    func waitFor(
        _ name: String, _ what: String, timeout: TimeInterval = deadline, file: StaticString = #filePath, line: UInt = #line,
        _ ok: (String) -> Bool
    ) -> String {
        let end = Date().addingTimeInterval(timeout)
        var s = ""
        while Date() < end {
            s = screen(name)
            if ok(s) { return s }
            usleep(50_000)
        }
        XCTFail("\(name): timed out waiting for \(what); screen:\n\(s)", file: file, line: line)
        return s
    }

    func waitFor(_ name: String, _ text: String, timeout: TimeInterval = deadline, file: StaticString = #filePath, line: UInt = #line) {
        waitFor(name, "\"\(text)\"", timeout: timeout, file: file, line: line) { $0.contains(text) }
    }

    /// Sends a message and waits until `replies` finished replies from `model` are on screen.
    func chat(_ name: String, _ text: String, model: String, replies: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        try type(name, text); try keys(name, "Enter")
        waitFor(name, "reply \(replies) from \(model)", file: file, line: line) { s in
            !s.contains("● generating") && s.components(separatedBy: "▌ \(model) · ").count - 1 >= replies && s.contains(" tok/s")
        }
    }

    /// The pid of the app in window `name` (the child of the pane's shell).
    func appPID(_ name: String) -> Int32? {
        guard
            let shell = Int32(
                (try? tmux(["display-message", "-p", "-t", name + ":", "#{pane_pid}"]))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
        else { return nil }
        let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").first.flatMap { Int32($0) }
    }
}
