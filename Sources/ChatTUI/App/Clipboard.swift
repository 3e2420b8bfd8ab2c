import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Copying to the clipboard, two ways at once:
/// - a clipboard program of the desktop (wl-copy on Wayland, xclip or xsel on X11,
///   pbcopy), run with the text on stdin; only its exit status 0 counts as copied;
/// - OSC 52, which asks the terminal (or tmux, with `set-clipboard on`) to set the
///   clipboard. It works over ssh, but nothing tells whether the terminal obeyed, so
///   the notice never claims it did.
enum Clipboard {
    /// Terminals cap OSC 52 payloads (xterm ~100 kB); longer text is cut.
    static let maxBytes = 74_000
    /// How long one clipboard program may take. They finish in milliseconds (xclip and
    /// wl-copy fork a server and return); one that hangs (an unreachable X display)
    /// must not freeze the chat, which waits for it on the UI thread.
    static let toolTimeout = 1.0

    static func osc52(_ text: String) -> String {
        "\u{1b}]52;c;" + osc52Payload(text).base64EncodedString() + "\u{07}"
    }

    /// The bytes OSC 52 carries: the text, cut to `maxBytes` on a character boundary.
    static func osc52Payload(_ text: String) -> Data {
        var data = Data(text.utf8)
        if data.count > maxBytes {
            data = Data(data.prefix(maxBytes))
            // Do not end inside a UTF-8 sequence.
            while let last = data.last, last & 0xc0 == 0x80 { data.removeLast() }
            if let last = data.last, last & 0x80 != 0 { data.removeLast() }
        }
        return data
    }

    /// A clipboard program and the arguments that make it read stdin into the clipboard.
    struct Tool: Equatable {
        let name: String
        let arguments: [String]
    }

    /// The programs that fit this session, in the order they are tried.
    static func candidates(environment: [String: String]) -> [Tool] {
        var tools: [Tool] = []
        if !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty { tools.append(Tool(name: "wl-copy", arguments: [])) }
        if !(environment["DISPLAY"] ?? "").isEmpty {
            tools.append(Tool(name: "xclip", arguments: ["-selection", "clipboard"]))
            tools.append(Tool(name: "xsel", arguments: ["--clipboard", "--input"]))
        }
        tools.append(Tool(name: "pbcopy", arguments: []))
        return tools
    }

    /// The executable `name` on `path` (a PATH value), if any.
    static func which(_ name: String, path: String) -> String? {
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let p = "\(dir)/\(name)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    /// What copying did: the program that copied (nil: none found or none worked) and
    /// why the ones tried did not work.
    struct Outcome: Equatable {
        var copiedWith: String?
        var failures: [String] = []
    }

    /// Tries the fitting programs on PATH in turn until one copies.
    static func copyWithTool(
        _ text: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Double = toolTimeout
    ) -> Outcome {
        var out = Outcome()
        let path = environment["PATH"] ?? "/usr/bin:/bin"
        for tool in candidates(environment: environment) {
            guard let exe = which(tool.name, path: path) else { continue }
            let started = KeyDecoder.now()
            if let problem = run(exe, tool.arguments, input: Data(text.utf8), environment: environment, timeout: timeout) {
                out.failures.append("\(tool.name) \(problem)")
                // A program that hung points at a display that hangs: the next one would
                // too, and the chat would freeze once per program.
                if KeyDecoder.now() - started >= timeout { return out }
            } else {
                out.copiedWith = tool.name
                return out
            }
        }
        return out
    }

    /// The notice after copying `what` (e.g. "the last reply (12 characters)").
    static func notice(_ what: String, outcome: Outcome, textBytes: Int) -> String {
        if let tool = outcome.copiedWith { return "copied \(what) with \(tool)" }
        let cut = textBytes > maxBytes ? ", its first \(maxBytes / 1000) kB" : ""
        let osc = "sent \(what)\(cut) to the terminal via OSC 52 (works if your terminal allows clipboard writes)"
        guard let f = outcome.failures.first else { return osc }
        return "\(f); \(osc)"
    }

    /// Runs `exe` with `input` on stdin and stdout/stderr on /dev/null (never the
    /// screen). Returns nil on exit status 0 within `timeout`, else what went wrong.
    static func run(_ exe: String, _ arguments: [String], input: Data, environment: [String: String], timeout: Double) -> String? {
        // A socket pair, not a pipe: send(MSG_NOSIGNAL) to a program that exited early
        // is an error to report, not a SIGPIPE that kills the chat.
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { return "could not start (\(String(cString: strerror(errno))))" }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
        var writeOpen = true
        defer { if writeOpen { close(writeEnd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, readEnd, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // xclip and wl-copy leave a server running that keeps whatever it inherited:
        // no descriptor of the chat (model, session files) goes with it.
        for fd in Int32(3)..<1024 where fd != readEnd && fd != writeEnd {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, envp)
        close(readEnd)
        guard rc == 0 else { return "could not start (\(String(cString: strerror(rc))))" }

        let deadline = KeyDecoder.now() + timeout
        func msLeft() -> Int32 { Int32(max(0, min(1000, (deadline - KeyDecoder.now()) * 1000)).rounded(.up)) }
        // Feed stdin without ever blocking: a program that stops reading runs into the deadline.
        input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var off = 0
            while off < raw.count && KeyDecoder.now() < deadline {
                let n = send(writeEnd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n > 0 { off += n; continue }
                if n < 0 && errno == EAGAIN {
                    var p = pollfd(fd: writeEnd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, msLeft())
                    continue
                }
                if n < 0 && errno == EINTR { continue }
                break  // EPIPE: it exited without reading everything; its status tells
            }
        }
        close(writeEnd); writeOpen = false  // end of input

        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return "could not be waited for" }
            if KeyDecoder.now() >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return "did not finish within \(timeout) s"
            }
            usleep(2_000)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out (the C macros are not imported).
        let signal = status & 0x7f
        if signal != 0 { return "was killed by signal \(signal)" }
        let code = (status >> 8) & 0xff
        return code == 0 ? nil : "failed (exit status \(code))"
    }
}
