import Foundation

/// A key press (or paste, or wheel turn) decoded from terminal input bytes.
enum Key: Equatable, Sendable {
    case text(String)  // printable text typed (possibly several characters)
    case enter  // CR: send
    case newline  // Ctrl-J (LF) or Alt-Enter: new line in the input
    case tab, backspace, delete
    case left, right, up, down, home, end, pageUp, pageDown
    case function(Int)  // F1...F12
    case escape
    case ctrl(Character)  // Ctrl-A ... Ctrl-Z other than the keys above, as "a"..."z"
    case alt(Character)  // Alt (Meta) with a printable key: ESC then the key, as "b", "f", "d"
    case altBackspace  // Alt-Backspace: ESC then DEL (or BS)
    case ctrlLeft, ctrlRight  // Ctrl- or Alt-arrow (xterm CSI 1;5D / 1;3D, rxvt ESC O d)
    case paste(String)  // one bracketed paste, as one block
    case wheelUp, wheelDown
}

/// Turns raw terminal bytes into keys: UTF-8 text (invalid bytes become U+FFFD),
/// control keys, CSI/SS3 escape sequences of xterm, tmux and the Linux console,
/// bracketed paste (ESC[200~ ... ESC[201~) and SGR/X10 mouse wheel reports.
/// Input may arrive split anywhere; incomplete sequences wait for the next bytes.
///
/// Esc versus Alt: terminals send Alt+key as ESC followed by the key, and the Esc key
/// as a lone ESC. An ESC that another byte follows is therefore never the Esc key; a
/// lone ESC becomes `.escape` only once `escapeWindow` has passed with nothing after
/// it (`idle(now:)`, called when a poll for input times out).
struct KeyDecoder {
    private var pending: [UInt8] = []
    /// When the oldest byte in `pending` arrived (monotonic seconds).
    private var pendingSince: Double = 0
    private var paste: [UInt8]? = nil
    private var pasteIdle = 0

    /// How long a lone ESC waits for a following byte before it counts as the Esc key.
    /// A terminal writes ESC and the key of an Alt combination in one write, so locally
    /// they arrive in one read; the window only has to bridge a write split on the way
    /// (ssh packets, tmux relaying), where the two halves land a few ms apart. 25 ms
    /// covers that while staying far below what a person notices as Esc lag (~100 ms),
    /// and below the gap between two human key presses, so Esc then a typed letter is
    /// still Esc and a letter.
    static let escapeWindow = 0.025

    /// Monotonic seconds, the clock `feed` and `idle` use unless a test passes its own.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Paste bytes kept beyond this are dropped (the editor cuts far earlier).
    static let maxPasteBytes = 16 << 20
    private static let pasteEnd: [UInt8] = [0x1b, 0x5b, 0x32, 0x30, 0x31, 0x7e]  // ESC [ 2 0 1 ~

    mutating func feed(_ bytes: [UInt8], now: Double = KeyDecoder.now()) -> [Key] {
        if pending.isEmpty { pendingSince = now }
        pending += bytes
        pasteIdle = 0
        return parse(final: false, now: now)
    }

    /// Called when no input came for a moment: once `escapeWindow` has passed since the
    /// held bytes arrived, a lone ESC is the Esc key and a cut sequence is given up on.
    /// A paste whose end marker never comes ends after ~20 idle turns.
    mutating func idle(now: Double = KeyDecoder.now()) -> [Key] {
        if paste != nil {
            pasteIdle += 1
            if pasteIdle < 20 { return [] }
            pending += KeyDecoder.pasteEnd
        } else if now - pendingSince < KeyDecoder.escapeWindow {
            return []
        }
        return parse(final: true, now: now)
    }

    /// How long the event loop may wait for input before calling `idle`: `longest`
    /// normally, less while held bytes (a lone ESC) wait out the rest of the window.
    func inputWaitMs(longest: Int32, now: Double = KeyDecoder.now()) -> Int32 {
        guard !pending.isEmpty, paste == nil else { return longest }
        let left = (KeyDecoder.escapeWindow - (now - pendingSince)) * 1000
        return max(0, min(longest, Int32(left.rounded(.up))))
    }

    private mutating func parse(final: Bool, now: Double) -> [Key] {
        var keys: [Key] = []
        var i = 0
        let b = pending
        outer: while i < b.count {
            if paste != nil {
                if let end = find(KeyDecoder.pasteEnd, in: b, from: i) {
                    appendPaste(b[i..<end])
                    keys.append(.paste(KeyDecoder.cleanPaste(paste!)))
                    paste = nil
                    i = end + KeyDecoder.pasteEnd.count
                    continue
                }
                // Keep a tail that may be the start of the end marker.
                let keep = min(KeyDecoder.pasteEnd.count - 1, b.count - i)
                appendPaste(b[i..<(b.count - keep)])
                i = b.count - keep
                break
            }
            let c = b[i]
            switch c {
            case 0x1b:
                guard i + 1 < b.count else {
                    if final { keys.append(.escape); i += 1 }
                    break outer
                }
                let n = b[i + 1]
                if n == 0x5b {  // CSI
                    var j = i + 2
                    // Linux console F1-F5: ESC [ [ A..E
                    if j < b.count && b[j] == 0x5b {
                        guard j + 1 < b.count else { if final { i = b.count }; break outer }
                        if (0x41...0x45).contains(b[j + 1]) { keys.append(.function(Int(b[j + 1]) - 0x40)) }
                        i = j + 2; continue
                    }
                    while j < b.count && !(0x40...0x7e).contains(b[j]) { j += 1 }
                    guard j < b.count else {
                        // A cut or runaway sequence is dropped, never taken for Esc.
                        if final || j - i > 64 { i = j; continue }
                        break outer
                    }
                    let params = String(decoding: b[(i + 2)..<j], as: UTF8.self)
                    let fin = b[j]
                    if fin == 0x4d && params.isEmpty {  // X10 mouse: ESC [ M b x y
                        guard j + 3 < b.count else { if final { i = b.count }; break outer }
                        let button = Int(b[j + 1]) - 32
                        if button & 0x43 == 0x40 { keys.append(.wheelUp) }
                        if button & 0x43 == 0x41 { keys.append(.wheelDown) }
                        i = j + 4; continue
                    }
                    i = j + 1
                    if params == "200" && fin == 0x7e { paste = []; continue }
                    if let k = KeyDecoder.csiKey(params: params, final: fin) { keys.append(k) }
                } else if n == 0x4f {  // SS3 (or Alt-O, when nothing follows)
                    guard i + 2 < b.count else { if final { keys.append(.alt("O")); i += 2; continue }; break outer }
                    switch b[i + 2] {
                    case 0x50...0x53: keys.append(.function(Int(b[i + 2]) - 0x4f))
                    case 0x41: keys.append(.up)
                    case 0x42: keys.append(.down)
                    case 0x43: keys.append(.right)
                    case 0x44: keys.append(.left)
                    case 0x48: keys.append(.home)
                    case 0x46: keys.append(.end)
                    case 0x4d: keys.append(.enter)
                    case 0x64: keys.append(.ctrlLeft)  // rxvt Ctrl-Left
                    case 0x63: keys.append(.ctrlRight)  // rxvt Ctrl-Right
                    default: break
                    }
                    i += 3
                } else if n == 0x0d || n == 0x0a {  // Alt-Enter
                    keys.append(.newline); i += 2
                } else if n == 0x7f || n == 0x08 {
                    keys.append(.altBackspace); i += 2
                } else if n >= 0x20 {
                    // Alt with a printable key (one whole UTF-8 character).
                    let end = min(b.count, i + 1 + KeyDecoder.utf8Length(n))
                    guard end - i - 1 == KeyDecoder.utf8Length(n) || final else { break outer }
                    if let ch = String(decoding: b[(i + 1)..<end], as: UTF8.self).first { keys.append(.alt(ch)) }
                    i = end
                } else {
                    // ESC before a control byte (Alt-Ctrl-X, or ESC ESC): not the Esc key;
                    // the ESC is dropped and the byte read as itself.
                    i += 1
                }
            case 0x0d: keys.append(.enter); i += 1
            case 0x0a: keys.append(.newline); i += 1
            case 0x09: keys.append(.tab); i += 1
            case 0x7f, 0x08: keys.append(.backspace); i += 1
            case 0x01...0x1a:
                keys.append(.ctrl(Character(Unicode.Scalar(c + 0x60)))); i += 1
            case 0x00, 0x1c...0x1f: i += 1
            default:
                // A run of text up to the next control byte; an incomplete UTF-8
                // sequence at the end of the input waits for its other bytes.
                var j = i
                while j < b.count && b[j] >= 0x20 && b[j] != 0x7f { j += 1 }
                var end = j
                if j == b.count && !final { end = KeyDecoder.completeUTF8Prefix(b, from: i, to: j) }
                if end > i { keys.append(.text(String(decoding: b[i..<end], as: UTF8.self))) }
                i = end
                if end < j { break outer }
            }
        }
        if i > 0 { pendingSince = now }
        pending = Array(b[i...])
        return keys
    }

    private mutating func appendPaste(_ s: ArraySlice<UInt8>) {
        guard var p = paste else { return }
        let room = KeyDecoder.maxPasteBytes - p.count
        if room > 0 { p += s.prefix(room) }
        paste = p
    }

    private func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard hay.count - from >= needle.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// Bytes in the UTF-8 sequence that `lead` starts (1 for ASCII and stray bytes).
    static func utf8Length(_ lead: UInt8) -> Int {
        if lead & 0xe0 == 0xc0 { return 2 }
        if lead & 0xf0 == 0xe0 { return 3 }
        if lead & 0xf8 == 0xf0 { return 4 }
        return 1
    }

    /// The end of the longest prefix of b[from..<to] that does not end inside a
    /// UTF-8 sequence (a lead byte whose continuation bytes have not arrived yet).
    static func completeUTF8Prefix(_ b: [UInt8], from: Int, to: Int) -> Int {
        var k = to - 1
        var back = 0
        while k >= from && back < 4 && b[k] & 0xc0 == 0x80 { k -= 1; back += 1 }
        guard k >= from else { return to }
        let lead = b[k]
        let need: Int
        if lead & 0xe0 == 0xc0 { need = 2 } else if lead & 0xf0 == 0xe0 { need = 3 } else if lead & 0xf8 == 0xf0 { need = 4 } else { return to }
        return to - k < need ? k : to
    }

    /// A paste as text: CRLF and CR become LF, other control characters (escape
    /// sequences in the pasted data, NULs) are dropped; invalid UTF-8 becomes U+FFFD.
    static func cleanPaste(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x0d {
                out.append(0x0a)
                if i + 1 < bytes.count && bytes[i + 1] == 0x0a { i += 1 }
            } else if c == 0x0a || c == 0x09 || (c >= 0x20 && c != 0x7f) {
                out.append(c)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// xterm's modifier parameter (`1;M`): Ctrl (5) or Alt (3), alone or with others,
    /// turn an arrow into a word move.
    static func wordModified(_ params: String) -> Bool {
        let parts = params.split(separator: ";")
        guard parts.count == 2, let m = Int(parts[1]), m >= 2 else { return false }
        return (m - 1) & 0b110 != 0  // bit 1: Alt, bit 2: Ctrl
    }

    static func csiKey(params: String, final: UInt8) -> Key? {
        switch final {
        case 0x41: return .up
        case 0x42: return .down
        case 0x43: return KeyDecoder.wordModified(params) ? .ctrlRight : .right
        case 0x44: return KeyDecoder.wordModified(params) ? .ctrlLeft : .left
        case 0x48: return .home
        case 0x46: return .end
        case 0x50...0x53 where params.hasPrefix("1;"): return .function(Int(final) - 0x4f)  // modified F1-F4
        case 0x5a: return .tab  // shift-tab
        case 0x4d, 0x6d:  // SGR mouse: ESC [ < b ; x ; y M/m
            guard params.hasPrefix("<"), final == 0x4d,
                let button = Int(params.dropFirst().split(separator: ";").first ?? "")
            else { return nil }
            if button & 0x43 == 0x40 { return .wheelUp }
            if button & 0x43 == 0x41 { return .wheelDown }
            return nil
        case 0x7e:
            switch Int(params.split(separator: ";").first ?? "") ?? -1 {
            case 1, 7: return .home
            case 4, 8: return .end
            case 3: return .delete
            case 5: return .pageUp
            case 6: return .pageDown
            case 11...15: return .function((Int(params.split(separator: ";").first!) ?? 11) - 10)
            case 17...21: return .function((Int(params.split(separator: ";").first!) ?? 17) - 11)
            case 23, 24: return .function((Int(params.split(separator: ";").first!) ?? 23) - 12)
            default: return nil
            }
        default: return nil
        }
    }
}
