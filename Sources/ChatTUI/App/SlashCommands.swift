import Inference
import Sessions

/// A command typed in the input as `/name args`.
enum SlashCommand: Equatable {
    case model(String?)  // no name: open the picker
    case system(String?)  // no text: clear the system prompt
    case temperature(Double)
    case sparsity(String)  // "off" or "stat-topk:F"
    case speculative(String?)  // nil: off; else a drafter's canonical form ("slice:16384@4")
    case clear
    case export(ExportFormat, String?)
    case copy
    case copyCode(Int?)  // the N-th fenced code block of the last reply (from 1; nil: the last one)
    case retry  // generate the last reply again, in place of the old one
    case edit  // the last user message back in the editor; sending it replaces it
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
        ("/copy", "copy the last reply (clipboard tool and OSC 52)"),
        ("/copy code [N]", "copy code block N of the last reply (default: the last)"),
        ("/retry", "generate the last reply again (replaces it)"),
        ("/edit", "edit your last message; Enter resends it"),
        ("/sessions", "list saved sessions"),
        ("/help", "keys and commands"),
        ("/quit", "leave")
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
        case "copy":
            let words = rest?.split(whereSeparator: \.isWhitespace).map { $0.lowercased() } ?? []
            let usage = "/copy takes nothing (the last reply) or code [N] (its N-th code block, from 1)"
            if words.isEmpty { return .success(.copy) }
            guard words[0] == "code", words.count <= 2 else { return fail(usage) }
            guard words.count == 2 else { return .success(.copyCode(nil)) }
            guard let n = Int(words[1]), n >= 1 else { return fail("/copy code N: N counts the code blocks from 1") }
            return .success(.copyCode(n))
        case "retry", "regenerate", "regen":
            return rest == nil ? .success(.retry) : fail("/retry takes no argument")
        case "edit":
            return rest == nil ? .success(.edit) : fail("/edit takes no argument (it edits your last message)")
        case "sessions": return .success(.sessions)
        case "help", "?": return .success(.help)
        case "quit", "exit", "q": return .success(.quit)
        default: return fail("unknown command /\(name) (see /help)")
        }
    }
}

struct SlashCommandError: Error, Equatable, CustomStringConvertible { let description: String }
