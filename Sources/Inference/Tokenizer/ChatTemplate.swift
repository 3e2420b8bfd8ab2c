/// One turn of a conversation as the chat template sees it.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable, Codable { case system, user, model }
    public var role: Role
    public var text: String
    public init(role: Role, text: String) { self.role = role; self.text = text }
}

/// The Gemma chat template (the Gemma 3 GGUF stores none, so it is built in):
/// `<bos><start_of_turn>user\n{msg}<end_of_turn>\n<start_of_turn>model\n{reply}<end_of_turn>\n`.
/// A system prompt is prepended to the first user turn followed by a blank line.
/// `<bos>` is not part of the text: the tokenizer adds it.
public enum ChatTemplate {
    public static func gemma(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var system: String? = nil
        var out = ""
        var firstUser = true
        for m in messages {
            switch m.role {
            case .system:
                system = (system.map { $0 + "\n\n" } ?? "") + m.text
            case .user:
                var text = m.text
                if firstUser, let s = system { text = s + "\n\n" + text }
                firstUser = false
                out += "<start_of_turn>user\n\(text)<end_of_turn>\n"
            case .model:
                out += "<start_of_turn>model\n\(m.text)<end_of_turn>\n"
            }
        }
        if firstUser, let s = system {
            // A system prompt with no user turn yet still reaches the model.
            out += "<start_of_turn>user\n\(s)<end_of_turn>\n"
        }
        if addGenerationPrompt { out += "<start_of_turn>model\n" }
        return out
    }
}
