/// Recognises the turn markup of a stored chat template (a Jinja program) by the
/// markers it emits, instead of running Jinja: the families we know render the same
/// text for the same messages, and `ChatFormat` renders it exactly (checked against
/// transformers' `apply_chat_template` in the tests).
public enum ChatTemplateRecognizer {
    public static func recognize(_ template: String) -> ChatFormat? {
        if template.contains("<start_of_turn>") {
            // Gemma's published templates trim each message; older community ones don't.
            let trims = template.contains("| trim") || template.contains("|trim")
            return .gemma(trimContent: trims)
        }
        if template.contains("<|im_start|>") { return .chatml }
        if template.contains("<|start_header_id|>") { return .llama3 }
        return nil
    }
}

/// Whether a model was instruction-tuned (it has a turn markup it was trained on) or
/// only pretrained (it gets the dialogue frame), decided from what its files say.
public enum ChatStyle: Sendable, Equatable {
    /// Instruction-tuned: run with this markup.
    case instruct(ChatFormat, reason: String)
    /// Pretrained: run with the dialogue frame.
    case base(reason: String)
    /// Trained on plain text only (no dialogue, no markup): the reply continues the text.
    case plain(reason: String)

    public var reason: String {
        switch self {
        case .instruct(_, let r), .base(let r), .plain(let r): return r
        }
    }

    /// Decides from the stored template and the names the files give (file name,
    /// `general.name`, `general.finetune`, directory name). Names win over a template:
    /// Google ships the Gemma chat template with its pretrained checkpoints too, while
    /// "-it" / "-pt" in a name is how every family labels the two.
    public static func decide(template: String?, names: [String], architecture: String) -> ChatStyle {
        let family = familyFormat(architecture)
        let recognised = template.flatMap(ChatTemplateRecognizer.recognize)
        switch nameHint(names) {
        case .some(true):
            return .instruct(recognised ?? family ?? .chatml, reason: "instruction-tuned (named so)")
        case .some(false):
            return .base(reason: "pretrained (named so)")
        case nil:
            if let r = recognised { return .instruct(r, reason: "instruction-tuned (stored chat template)") }
            if template != nil, let f = family {
                return .instruct(f, reason: "instruction-tuned (stored chat template, family markup)")
            }
            // Spark checkpoints are trained from scratch on plain text (scripts/spark): a
            // `User:` frame is as foreign to them as turn markup, so they continue the text.
            if architecture.lowercased() == "spark_gemma" { return .plain(reason: "trained on plain text (continues it)") }
            return .base(reason: "pretrained (no chat template stored)")
        }
    }

    /// The markup a family's instruction-tuned models use.
    static func familyFormat(_ architecture: String) -> ChatFormat? {
        let a = architecture.lowercased()
        if a.hasPrefix("gemma") || a.contains("recurrent_gemma") || a.hasPrefix("spark") { return .gemma(trimContent: true) }
        if a.hasPrefix("qwen") { return .chatml }
        if a.hasPrefix("llama") { return .llama3 }
        return nil
    }

    /// true: the names say instruction-tuned; false: pretrained; nil: they don't say.
    static func nameHint(_ names: [String]) -> Bool? {
        let instruct: Set<String> = ["it", "instruct", "chat", "sft", "dpo", "rlhf", "assistant"]
        let base: Set<String> = ["pt", "base", "pretrained", "pretrain"]
        var sawBase = false
        for n in names {
            let words = n.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
            if words.contains(where: instruct.contains) { return true }
            if words.contains(where: base.contains) { sawBase = true }
        }
        return sawBase ? false : nil
    }
}
