import Foundation
import Sessions

/// Inputs too large for the model or the screen: refused with their size before they reach
/// the tokenizer, and drawn cut, so the chat stays responsive whatever the input.
extension ChatApp {
    /// What the transcript draws of a system prompt (the whole stays in the session).
    static let systemPromptShownBytes = 4_000
    /// What it draws of one message: hashing and wrapping a 50 MB message from a session
    /// file on every frame would stall each keystroke (`/export` writes the whole).
    static let messageShownBytes = 256_000

    var contextTokens: Int { live.contextLimit > 0 ? live.contextLimit : modelInfo?.contextLength ?? 0 }

    func systemPromptTooLarge() -> String? {
        guard let s = conversation.systemPrompt else { return nil }
        return PromptSize.refusal("the system prompt", bytes: s.utf8.count, contextTokens: contextTokens)
    }

    /// Why `text` cannot be sent now for its size (the system prompt counts too); nil when it may.
    func inputTooLarge(_ text: String) -> String? {
        if let why = systemPromptTooLarge() { return why + "; /system sets a shorter one" }
        return PromptSize.refusal("the message", bytes: text.utf8.count, contextTokens: contextTokens)
    }

    /// The messages as the transcript draws them: the system prompt first, each cut to
    /// what can be drawn at typing speed (not the reply streaming, which grows token by token).
    func shownMessages() -> [Message] {
        var shown = conversation.messages
        for i in shown.indices where shown[i].id != streamingID && shown[i].text.utf8.count > ChatApp.messageShownBytes {
            shown[i].text = PromptSize.shown(shown[i].text, limit: ChatApp.messageShownBytes, what: "this message")
        }
        if let sys = conversation.systemPrompt, !sys.isEmpty {
            var m = Message(role: .system, text: PromptSize.shown(sys, limit: ChatApp.systemPromptShownBytes, what: "the system prompt"),
                            time: conversation.created)
            m.id = ChatApp.systemPromptID   // a fixed id keeps its layout cached
            shown.insert(m, at: 0)
        }
        return shown
    }
}
