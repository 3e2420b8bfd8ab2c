/// One server-sent event: its `event:` name (nil when the server gave none) and its data
/// (several `data:` lines joined with "\n", as the EventSource specification says).
public struct SSEEvent: Equatable, Sendable {
    public var event: String?
    public var data: String
    public init(event: String? = nil, data: String) { self.event = event; self.data = data }
}

/// An incremental parser of the `text/event-stream` format (the part OpenAI-compatible
/// servers use): bytes arrive in chunks cut anywhere — inside a line, between CR and LF,
/// inside a UTF-8 sequence — and complete events come out. Lines end with LF, CRLF or a
/// lone CR; a line starting with ":" is a comment (keep-alive); a blank line ends an
/// event; an event with no data line is not dispatched. `id:` and `retry:` are read and
/// ignored: the client never reconnects a chat stream (a resumed reply would repeat text).
public struct SSEParser {
    private var line: [UInt8] = []
    /// The previous chunk ended with CR: a LF at the start of the next one belongs to it.
    private var pendingCR = false
    private var dataLines: [String] = []
    private var eventName: String?
    private var sawData = false
    /// The longest line kept (a server that never sends a newline must not fill memory).
    public static let maxLineBytes = 4 << 20

    public init() {}

    /// Feeds bytes; returns the events they complete. Throws when one line is over
    /// `maxLineBytes`.
    public mutating func feed<S: Sequence>(_ bytes: S) throws -> [SSEEvent] where S.Element == UInt8 {
        var out: [SSEEvent] = []
        for b in bytes {
            if pendingCR {
                pendingCR = false
                if b == 0x0A { continue }
            }
            switch b {
            case 0x0D:
                pendingCR = true
                if let e = endLine() { out.append(e) }
            case 0x0A:
                if let e = endLine() { out.append(e) }
            default:
                line.append(b)
                if line.count > SSEParser.maxLineBytes { throw SSEError.lineTooLong(SSEParser.maxLineBytes) }
            }
        }
        return out
    }

    /// The end of the stream: an event whose blank line never came is not dispatched
    /// (the specification's rule; an OpenAI stream always ends its events).
    public mutating func finish() { line = []; dataLines = []; eventName = nil; sawData = false; pendingCR = false }

    private mutating func endLine() -> SSEEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            defer { dataLines = []; eventName = nil; sawData = false }
            return sawData ? SSEEvent(event: eventName, data: dataLines.joined(separator: "\n")) : nil
        }
        if line[0] == UInt8(ascii: ":") { return nil }
        let text = String(decoding: line, as: UTF8.self)
        let field: Substring, value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            var v = text[text.index(after: colon)...]
            if v.first == " " { v = v.dropFirst() }
            value = v
        } else {
            field = Substring(text); value = ""
        }
        switch field {
        case "data": dataLines.append(String(value)); sawData = true
        case "event": eventName = String(value)
        default: break  // id, retry, unknown fields
        }
        return nil
    }
}

public enum SSEError: Error, CustomStringConvertible, Equatable {
    case lineTooLong(Int)
    public var description: String {
        switch self {
        case .lineTooLong(let n): return "an event-stream line is over \(n >> 20) MB"
        }
    }
}
