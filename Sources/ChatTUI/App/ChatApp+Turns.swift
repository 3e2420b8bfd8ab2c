import Foundation
import Inference
import Sessions

/// Going back over the last turn: /retry, /edit, and /copy of the last reply.
extension ChatApp {
    /// /retry: the last reply is dropped and generated again for the same user message.
    /// The old reply is replaced, not kept as an alternative: the session file holds one
    /// linear history, which every export and later prompt reads as it is.
    func retryLastReply() {
        if isStreaming { say("/retry: a reply is still coming (Esc stops it first)", error: true); return }
        guard let info = modelInfo, loadingModel == nil else { say("the model is still loading", error: true); return }
        let messages = conversation.messages
        guard let last = messages.last, last.role == .assistant else {
            say("no reply to retry yet", error: true); return
        }
        guard messages.count >= 2, messages[messages.count - 2].role == .user else {
            say("/retry: no message of yours before the last reply", error: true); return
        }
        conversation.messages.removeLast()
        startReply(info)
        let s = conversation.settings
        let same =
            s.temperature == 0
            ? " (temperature 0: expect the same reply; /temp changes it)"
            : s.seed != nil ? " (a fixed seed: expect the same reply)" : ""
        say("generating the last reply again; it replaces the old one" + same)
    }

    /// /edit: the last user message goes back into the editor; sending it cuts the
    /// conversation back to before it (it and the reply after it) and sends the new text.
    func editLastUserMessage() {
        if isStreaming { say("/edit: a reply is still coming (Esc stops it first)", error: true); return }
        guard let m = conversation.messages.last(where: { $0.role == .user }) else {
            say("no message of yours to edit yet", error: true); return
        }
        editor.replace(with: m.text)
        editingMessageID = m.id
        say("editing your last message: Enter sends it in place of the old one and its reply, Esc cancels")
    }

    func cancelEdit() {
        editingMessageID = nil
        editor.clear()
        say("edit cancelled: the conversation is unchanged")
    }

    /// Drops the message being edited and everything after it (nil-safe: a message
    /// that is gone, after /clear or opening another session, cuts nothing).
    func cutForEdit() {
        defer { editingMessageID = nil }
        guard let id = editingMessageID, let i = conversation.messages.firstIndex(where: { $0.id == id }) else { return }
        let cut = conversation.messages[i]
        conversation.messages.removeSubrange(i...)
        // A title derived from the first message (not one the user gave) follows its edit.
        if !conversation.messages.contains(where: { $0.role == .user }), conversation.title == Conversation.title(from: cut.text) {
            conversation.title = Conversation.defaultTitle
        }
        persist(now: true)
    }

    /// The newest reply with text (the one streaming counts, as far as it has come).
    private var lastReply: Message? { conversation.messages.last { $0.role == .assistant && !$0.text.isEmpty } }

    func copyLastReply() {
        guard let r = lastReply else { say("no reply to copy yet", error: true); return }
        copy(r.text, what: "the last reply (\(r.text.count) characters)")
    }

    /// /copy code [N]: the N-th fenced code block of the last reply (from 1), or its last.
    func copyCodeBlock(_ n: Int?) {
        guard let r = lastReply else { say("no reply to copy from yet", error: true); return }
        let blocks = MarkdownCodeBlocks.extract(r.text)
        guard !blocks.isEmpty else { say("the last reply has no code block", error: true); return }
        let k = n ?? blocks.count
        guard k <= blocks.count else {
            say("the last reply has \(blocks.count) code block\(blocks.count == 1 ? "" : "s"), no block \(k)", error: true); return
        }
        let b = blocks[k - 1]
        let lang = b.language.isEmpty ? "" : " (\(b.language))"
        copy(b.code, what: "code block \(k) of \(blocks.count)\(lang)")
    }

    /// Both ways at once: a clipboard program when one is there and works, and OSC 52
    /// for terminals that take it (over ssh and tmux too). The notice says which.
    private func copy(_ text: String, what: String) {
        let outcome = Clipboard.copyWithTool(text)
        terminal.writeRaw(Clipboard.osc52(text))
        say(Clipboard.notice(what, outcome: outcome, textBytes: text.utf8.count), error: !outcome.failures.isEmpty && outcome.copiedWith == nil)
    }
}
