/// Every failure the engine reports is one line of text naming what is wrong.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case file(String)        // cannot open / map / read
    case format(String)      // malformed or hostile model file: names the field
    case unsupported(String) // well-formed but not something we run
    case input(String)       // bad user input (empty prompt, bad UTF-8, ...)

    public var description: String {
        switch self {
        case .file(let s): return s
        case .format(let s): return "invalid model file: \(s)"
        case .unsupported(let s): return "unsupported: \(s)"
        case .input(let s): return s
        }
    }
}
