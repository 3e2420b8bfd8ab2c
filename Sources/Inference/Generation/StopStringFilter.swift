/// Cuts a streamed reply at the first stop string, so that the marker of the next
/// turn (`\nUser:`, `<end_of_turn>` spelled out) is never shown or saved.
///
/// Text that could still turn out to be the start of a stop string is held back until
/// the next token decides, and so is trailing whitespace (a reply that ends with
/// "\n\nUser:" must not leave its blank line behind). Leading whitespace of the reply
/// is dropped: a frame's prompt ends at "Assistant:" and the model writes the space.
/// Matching is on UTF-8 bytes: a valid UTF-8 needle only matches a valid UTF-8
/// haystack at a character boundary, so every cut is between characters.
public struct StopStringFilter: Sendable {
    public let stops: [[UInt8]]
    let trimLeading: Bool
    private var pending: [UInt8] = []
    private var started = false
    public private(set) var stopped = false

    public init(stops: [String], trimLeading: Bool = true) {
        self.stops = stops.filter { !$0.isEmpty }.map { Array($0.utf8) }
        self.trimLeading = trimLeading
    }

    /// Adds a token's text; returns what can be shown now. After a stop string is
    /// seen, `stopped` is true and everything from the stop string on is dropped.
    public mutating func push(_ text: String) -> String {
        guard !stopped else { return "" }
        pending += Array(text.utf8)
        if !started && trimLeading {
            let drop = pending.prefix { StopStringFilter.isSpace($0) }.count
            pending.removeFirst(drop)
            if pending.isEmpty { return "" }
        }
        if let cut = firstStop() {
            stopped = true
            var out = Array(pending[..<cut])
            while let last = out.last, StopStringFilter.isSpace(last) { out.removeLast() }
            pending = []
            return emit(out)
        }
        // Hold back the longest tail that a stop string starts with, and trailing spaces.
        var keep = 0
        for s in stops {
            for n in stride(from: min(s.count - 1, pending.count), through: 1, by: -1) where n > keep {
                if pending[(pending.count - n)...].elementsEqual(s[..<n]) { keep = n; break }
            }
        }
        var end = pending.count - keep
        while end > 0, StopStringFilter.isSpace(pending[end - 1]) { end -= 1 }
        let out = Array(pending[..<end])
        pending.removeFirst(end)
        return emit(out)
    }

    /// The held-back text once the reply is over without a stop string (minus its
    /// trailing whitespace, which ends no reply).
    public mutating func flush() -> String {
        guard !stopped else { return "" }
        var out = pending
        pending = []
        while let last = out.last, StopStringFilter.isSpace(last) { out.removeLast() }
        return emit(out)
    }

    private mutating func emit(_ bytes: [UInt8]) -> String {
        if !bytes.isEmpty { started = true }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Byte offset of the earliest stop string in `pending`.
    private func firstStop() -> Int? {
        var best: Int? = nil
        for s in stops where s.count <= pending.count {
            var i = 0
            while i + s.count <= pending.count, i < (best ?? Int.max) {
                if pending[i] == s[0] && pending[i..<(i + s.count)].elementsEqual(s) { best = i; break }
                i += 1
            }
        }
        return best
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D }
}
