import Foundation

/// Copying through the terminal: OSC 52 asks the terminal (or tmux, with
/// `set-clipboard on`) to put base64 text on the clipboard. Works over ssh.
enum Clipboard {
    /// Terminals cap OSC 52 payloads (xterm ~100 kB); longer text is cut.
    static let maxBytes = 74_000

    static func osc52(_ text: String) -> String {
        var data = Data(text.utf8)
        if data.count > maxBytes {
            data = Data(data.prefix(maxBytes))
            // Do not end inside a UTF-8 sequence.
            while let last = data.last, last & 0xc0 == 0x80 { data.removeLast() }
            if let last = data.last, last & 0x80 != 0 { data.removeLast() }
        }
        return "\u{1b}]52;c;" + data.base64EncodedString() + "\u{07}"
    }
}
