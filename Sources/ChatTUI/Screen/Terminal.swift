import CNcursesw
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The only code that calls ncurses (from the main thread only). It owns the screen:
/// starts and ends curses mode, turns `Canvas` grids into drawn cells with the
/// theme's colours, and reads raw input bytes (escape sequences, bracketed paste and
/// mouse reports are decoded by `KeyDecoder`, which is pure Swift and tested).
final class Terminal {
    private(set) var width = 0
    private(set) var height = 0
    private var attributes: [StyleRole: Int32] = [:]
    private var screen: OpaquePointer?
    private var active = false

    /// Starts curses mode on stdin/stdout; errors are one line (not a terminal, unknown TERM).
    init(theme: Theme, useColor: Bool) throws {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw ChatError(description: "the chat needs a terminal (stdin and stdout must be a tty)")
        }
        TextWidth.ensureUTF8Locale()
        guard let s = newterm(nil, stdout, stdin) else {
            throw ChatError(description: "cannot start the terminal (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? "unset"))")
        }
        screen = s
        active = true
        raw(); noecho(); nonl()
        keypad(stdscr, false)  // KeyDecoder reads the escape sequences itself
        setupColors(theme: theme, useColor: useColor)
        // Bracketed paste (a paste arrives as one block) and SGR mouse reports (wheel).
        writeRaw("\u{1b}[?2004h\u{1b}[?1000h\u{1b}[?1006h")
        width = Int(sc_cols()); height = Int(sc_lines())
        _ = pollResize()
    }

    deinit { shutdown() }

    /// Leaves curses mode and restores the terminal's modes. Safe to call twice.
    func shutdown() {
        guard active else { return }
        active = false
        writeRaw("\u{1b}[?1006l\u{1b}[?1000l\u{1b}[?2004l")
        endwin()
        if let s = screen { delscreen(s) }
        screen = nil
    }

    private func setupColors(theme: Theme, useColor: Bool) {
        let colorOK = useColor && has_colors()
        var defaults = false
        if colorOK {
            start_color()
            defaults = use_default_colors() == OK
        }
        let n = colorOK ? Int(sc_colors()) : 0
        for (i, role) in StyleRole.allCases.enumerated() {
            let st = theme.style(role)
            var attr: Int32 = 0
            if st.bold == true { attr |= sc_a_bold() }
            if st.reverse == true { attr |= sc_a_reverse() }
            if st.underline == true { attr |= sc_a_underline() }
            if st.dim == true { attr |= sc_a_dim() }
            if colorOK && i + 1 < Int(sc_color_pairs()) {
                func pick(_ c256: Int?, _ c8: String?, fallback: Int) -> Int {
                    var c: Int
                    if n >= 256, let v = c256 {
                        c = v
                    } else if let name = c8 {
                        c = Theme.basicColors[name] ?? -1
                    } else if let v = c256, v < n {
                        c = v
                    } else {
                        c = -1
                    }
                    if c >= n { c = -1 }
                    if c == -1 && !defaults { c = fallback }
                    return c
                }
                let fg = pick(st.fg, st.fg8, fallback: 7), bg = pick(st.bg, st.bg8, fallback: 0)
                init_pair(Int16(i + 1), Int16(fg), Int16(bg))
                attr |= sc_color_pair(Int32(i + 1))
            }
            attributes[role] = attr
        }
    }

    /// Picks up a changed window size (checked every loop turn, so resize storms
    /// collapse into one redraw). Returns true when the size changed.
    func pollResize() -> Bool {
        var ws = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0 else { return false }
        let w = Int(ws.ws_col), h = Int(ws.ws_row)
        guard w != width || h != height, w > 0, h > 0 else { return false }
        resizeterm(Int32(h), Int32(w))
        width = w; height = h
        clearok(stdscr, true)
        return true
    }

    /// Copies the canvas to the screen and places the cursor (hidden when nil).
    func draw(_ canvas: Canvas, cursor: (x: Int, y: Int)?) {
        guard active, width > 0, height > 0 else { return }
        let w = min(width, canvas.width), h = min(height, canvas.height)
        var run: [wchar_t] = []
        for y in 0..<h {
            var x = 0
            while x < w {
                let role = canvas[x, y].role
                let start = x
                run.removeAll(keepingCapacity: true)
                while x < w, canvas[x, y].role == role {
                    for u in canvas[x, y].text.unicodeScalars { run.append(wchar_t(bitPattern: u.value)) }
                    x += 1
                }
                attrset(attributes[role] ?? 0)
                run.append(0)
                _ = mvaddnwstr(Int32(y), Int32(start), run, Int32(run.count - 1))
            }
        }
        attrset(0)
        if let c = cursor, c.x >= 0, c.y >= 0, c.x < width, c.y < height {
            curs_set(1)
            move(Int32(c.y), Int32(c.x))
        } else {
            curs_set(0)
        }
        refresh()
    }

    /// Waits up to `timeoutMs` for input and returns the bytes read (empty on timeout,
    /// nil when the input is closed).
    func readInput(timeoutMs: Int32) -> [UInt8]? {
        var pfd = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        let r = poll(&pfd, 1, timeoutMs)
        guard r > 0 else { return [] }
        if pfd.revents & Int16(POLLIN) == 0 && pfd.revents & Int16(POLLHUP | POLLERR) != 0 { return nil }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = read(STDIN_FILENO, &buf, buf.count)
        if n == 0 { return nil }
        if n < 0 { return errno == EINTR || errno == EAGAIN ? [] : nil }
        return Array(buf[0..<n])
    }

    /// Sends an escape sequence straight to the terminal (modes, OSC 52 clipboard).
    func writeRaw(_ s: String) {
        fflush(stdout)
        let bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBufferPointer { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if n <= 0 { if errno == EINTR { continue }; break }
            off += n
        }
    }
}
