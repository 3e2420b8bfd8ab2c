import Inference
import Sessions

/// A command typed in the input as `/name args`.
enum SlashCommand: Equatable {
    case model(String?)            // no name: open the picker
    case system(String?)           // no text: clear the system prompt
    case temperature(Double)
    case sparsity(String)          // "off" or "stat-topk:F"
    case speculative(String?)      // nil: off; else a drafter's canonical form ("slice:16384@4")
    case clear
    case export(ExportFormat, String?)
    case copy
    case sessions
    case help
    case quit
}

enum SlashCommands {
    static let usage: [(String, String)] = [
        ("/model [NAME]", "pick a model, or switch to NAME"),
        ("/system TEXT", "set the system prompt (empty: remove it)"),
        ("/temp X", "sampling temperature (0 = greedy)"),
        ("/sparsity off|F", "run-time FFN sparsity: keep fraction F of neurons"),
        ("/speculative off|MODE", "drafter: slice, lookup, sparse:F, model:M, off"),
        ("/clear", "start a new session"),
        ("/export md|txt|html|json [PATH]", "write the conversation to a file"),
        ("/copy", "copy the last reply (OSC 52)"),
        ("/sessions", "list saved sessions"),
        ("/help", "keys and commands"),
        ("/quit", "leave"),
    ]

    /// nil when `input` is not a command (does not start with `/`, or starts with `//`,
    /// which sends the text with one slash removed); otherwise the command or a one-line error.
    static func parse(_ input: String) -> Result<SlashCommand, SlashCommandError>? {
        let trimmed = input.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("/"), !trimmed.hasPrefix("//") else { return nil }
        let body = trimmed.dropFirst()
        let name = String(body.prefix { !$0.isWhitespace }).lowercased()
        let arg = body.dropFirst(name.count).trimmingCharacters(in: .whitespacesAndNewlines)
        let rest: String? = arg.isEmpty ? nil : arg
        func fail(_ s: String) -> Result<SlashCommand, SlashCommandError> { .failure(SlashCommandError(description: s)) }
        switch name {
        case "model", "models": return .success(.model(rest))
        case "system": return .success(.system(rest))
        case "temp", "temperature":
            guard let r = rest, let t = Double(r), t.isFinite, t >= 0, t <= 5 else { return fail("/temp needs a number from 0 to 5") }
            return .success(.temperature(t))
        case "sparsity":
            guard let r = rest?.lowercased() else { return fail("/sparsity needs off or a fraction F in (0, 1]") }
            if r == "off" { return .success(.sparsity("off")) }
            let f = r.hasPrefix("stat-topk:") ? String(r.dropFirst("stat-topk:".count)) : r
            guard let v = Double(f), v > 0, v <= 1 else { return fail("/sparsity needs off or a fraction F in (0, 1]") }
            return .success(.sparsity("stat-topk:\(v)"))
        case "speculative", "spec":
            let usage = "/speculative needs off or a drafter: slice[:V], lookup[:N], sparse:F or model:PATH (optionally @γ)"
            guard let r = rest, let mode = SpeculativeMode(argument: r) else { return fail(usage) }
            return .success(.speculative(mode == .off ? nil : mode.description))
        case "clear", "new": return .success(.clear)
        case "export":
            guard let r = rest else { return fail("/export needs a format: md, txt, html or json") }
            let fmt = String(r.prefix { !$0.isWhitespace })
            guard let format = ExportFormat(rawValue: fmt.lowercased()) else { return fail("/export: unknown format \(fmt) (md, txt, html, json)") }
            let path = r.dropFirst(fmt.count).trimmingCharacters(in: .whitespaces)
            return .success(.export(format, path.isEmpty ? nil : path))
        case "copy": return .success(.copy)
        case "sessions": return .success(.sessions)
        case "help", "?": return .success(.help)
        case "quit", "exit", "q": return .success(.quit)
        default: return fail("unknown command /\(name) (see /help)")
        }
    }
}

struct SlashCommandError: Error, Equatable, CustomStringConvertible { let description: String }
