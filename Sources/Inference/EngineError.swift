/// Every failure the engine reports is one line of text naming what is wrong.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case file(String)  // cannot open / map / read
    case format(String)  // malformed or hostile model file: names the field
    case unsupported(String)  // well-formed but not something we run
    case input(String)  // bad user input (empty prompt, bad UTF-8, ...)

    public var description: String {
        switch self {
        case .file(let s): return EngineError.oneLine(s)
        case .format(let s): return "invalid model file: \(EngineError.oneLine(s))"
        case .unsupported(let s): return "unsupported: \(EngineError.oneLine(s))"
        case .input(let s): return EngineError.oneLine(s)
        }
    }

    /// Messages quote text from files (architecture names, keys): line breaks and other
    /// control characters are escaped so the message stays on one line.
    static func oneLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            if u.properties.generalCategory == .control || u == "\u{2028}" || u == "\u{2029}" {
                out += u.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }
}
