import Foundation

/// How a conversation becomes the text a model continues, and where its reply ends.
///
/// Instruction-tuned models were trained on one turn markup (recognised from the
/// template they ship, see `ChatTemplateRecognizer`); a pretrained (base) model
/// never saw any, so it gets a plain dialogue frame it continues well
/// (`DialogueFrame`). The rendered text excludes `<bos>`: the tokenizer adds it.
public enum ChatFormat: Sendable, Equatable, CustomStringConvertible {
    /// `<start_of_turn>user\n…<end_of_turn>\n<start_of_turn>model\n`. `trimContent`:
    /// the template trims each message (`| trim`, Gemma's published templates do).
    case gemma(trimContent: Bool)
    /// `<|im_start|>role\n…<|im_end|>\n` (Qwen, SmolLM, many fine-tunes).
    case chatml
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    case llama3
    /// A base model's dialogue frame: instruction, example turns, `User:`/`Assistant:`.
    case dialogue(DialogueFrame)
    /// A model trained on plain text only (the tiny Spark KJV model): the messages run
    /// on as one text and the reply continues it, up to a blank line (a paragraph's end).
    case continuation

    /// The short name the picker, the stats panel and `--format` use.
    public var name: String {
        switch self {
        case .gemma: return "gemma"
        case .chatml: return "chatml"
        case .llama3: return "llama3"
        case .dialogue(let f): return f.name
        case .continuation: return "continuation"
        }
    }

    public var description: String { name }

    /// True for the base-model frame (no turn tokens; the reply ends at a text marker).
    public var isDialogueFrame: Bool { if case .dialogue = self { return true } else { return false } }

    /// Texts that end a reply and are never shown or saved. Turn-end tokens that the
    /// tokenizer knows as single ids (`<end_of_turn>`) also stop by id; listing them
    /// here catches them when a tokenizer spells them out in pieces.
    public var stopStrings: [String] {
        switch self {
        case .gemma: return ["<end_of_turn>", "<start_of_turn>"]
        case .chatml: return ["<|im_end|>", "<|im_start|>"]
        case .llama3: return ["<|eot_id|>", "<|start_header_id|>"]
        case .dialogue(let f): return f.stop
        case .continuation: return ["\n\n"]
        }
    }

    /// Renders the conversation, ending with the opening of the model's turn when
    /// `addGenerationPrompt` is set.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        switch self {
        case .gemma(let trim): return ChatFormat.renderGemma(messages, trim: trim, addGenerationPrompt: addGenerationPrompt)
        case .chatml: return ChatFormat.renderChatML(messages, addGenerationPrompt: addGenerationPrompt)
        case .llama3: return ChatFormat.renderLlama3(messages, addGenerationPrompt: addGenerationPrompt)
        case .dialogue(let f): return f.render(messages, addGenerationPrompt: addGenerationPrompt)
        case .continuation: return ChatFormat.renderContinuation(messages)
        }
    }

    /// The user's and the model's texts joined by spaces (the model's reply already runs
    /// on from the text before it); a system prompt is an instruction such a model cannot
    /// follow, so it is left out.
    static func renderContinuation(_ messages: [ChatMessage]) -> String {
        messages.filter { $0.role != .system }.map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Gemma has no system role: the system prompt opens the first user turn,
    /// followed by a blank line (as Gemma 3's template does).
    static func renderGemma(_ messages: [ChatMessage], trim: Bool, addGenerationPrompt: Bool) -> String {
        func body(_ s: String) -> String { trim ? s.trimmingCharacters(in: .whitespacesAndNewlines) : s }
        let system = messages.filter { $0.role == .system }.map(\.text)
        var prefix = system.isEmpty ? "" : system.joined(separator: "\n\n") + "\n\n"
        var out = ""
        for m in messages where m.role != .system {
            let role = m.role == .user ? "user" : "model"
            out += "<start_of_turn>\(role)\n\(prefix)\(body(m.text))<end_of_turn>\n"
            prefix = ""
        }
        if !prefix.isEmpty {
            // A system prompt with no turn yet still reaches the model.
            out += "<start_of_turn>user\n\(body(String(prefix.dropLast(2))))<end_of_turn>\n"
        }
        if addGenerationPrompt { out += "<start_of_turn>model\n" }
        return out
    }

    static func renderChatML(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var out = ""
        for m in messages {
            let role = m.role == .model ? "assistant" : m.role.rawValue
            out += "<|im_start|>\(role)\n\(m.text)<|im_end|>\n"
        }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }

    static func renderLlama3(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var out = ""
        for m in messages {
            let role = m.role == .model ? "assistant" : m.role.rawValue
            out += "<|start_header_id|>\(role)<|end_header_id|>\n\n\(m.text.trimmingCharacters(in: .whitespacesAndNewlines))<|eot_id|>"
        }
        if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        return out
    }
}
