import Foundation
import Sessions

/// Texts too large for the screen are drawn cut, so the chat stays responsive whatever the
/// input (too large for the model: `oversizedPrompt` refuses them before sending).
extension ChatApp {
    /// What the transcript draws of a system prompt (the whole stays in the session).
    static let systemPromptShownBytes = 4_000
    /// What it draws of one message: hashing and wrapping a 50 MB message from a session
    /// file on every frame would stall each keystroke (`/export` writes the whole).
    static let messageShownBytes = 256_000

    /// The messages as the transcript draws them: the system prompt first, each cut to
    /// what can be drawn at typing speed (not the reply streaming, which grows token by token).
    func shownMessages() -> [Message] {
        var shown = conversation.messages
        for i in shown.indices where shown[i].id != streamingID && shown[i].text.utf8.count > ChatApp.messageShownBytes {
            shown[i].text = ShownText.cut(shown[i].text, limit: ChatApp.messageShownBytes, what: "this message")
        }
        if let sys = conversation.systemPrompt, !sys.isEmpty {
            var m = Message(
                role: .system, text: ShownText.cut(sys, limit: ChatApp.systemPromptShownBytes, what: "the system prompt"),
                time: conversation.created)
            m.id = ChatApp.systemPromptID  // a fixed id keeps its layout cached
            shown.insert(m, at: 0)
        }
        return shown
    }
}
