import Foundation
import Inference
import Sessions

/// What keys and slash commands do in the chat (overlays: ChatApp+Overlays).
extension ChatApp {
    func handle(_ key: Key) {
        // Keys typed ahead while the app was busy arrive as one text run ("q" then
        // "hello" read together as "qhello"). Where single letters are commands (an open
        // overlay, the history search), each character is its own key, so "q" closes the
        // picker and "hello" lands in the input instead of being dropped as one unknown key.
        if case .text(let run) = key, run.count > 1, overlayOpen || historySearch != nil {
            for c in run { handle(.text(String(c))) }
            return
        }
        switch overlay {
        case .help:
            if let d = HelpOverlay.scrollStep(key) {
                helpScroll = max(0, min(helpScroll + d, HelpOverlay.maxScroll(screen: Rect(x: 0, y: 0, width: terminal.width, height: terminal.height))))
            } else {
                overlay = .none
            }
            return
        case .picker(var p):
            handlePicker(key, &p)
            return
        case .sessions(var s):
            handleSessions(key, &s)
            return
        case .none:
            break
        }
        if historySearch != nil { handleHistorySearch(key); return }
        let action = Keymap.chat(key, inputEmpty: editor.isEmpty)
        switch action {
        case .send: submitInput()
        case .newline: editor.newline()
        case .insert(let s), .paste(let s):
            if !editor.insert(s) { say("input cut to \(InputEditor.maxCharacters) characters", error: true) }
        case .backspace: editor.backspace()
        case .deleteForward: editor.deleteForward()
        case .left: editor.left()
        case .right: editor.right()
        case .up: editor.up()
        case .down: editor.down()
        case .lineStart: editor.moveToLineStart()
        case .lineEnd: editor.moveToLineEnd()
        case .killToEnd: editor.killToLineEnd()
        case .killToStart: editor.killToLineStart()
        case .deleteWord: editor.deleteWordBackward()
        case .wordLeft: editor.wordLeft()
        case .wordRight: editor.wordRight()
        case .deleteWordBack: editor.deleteWordBefore()
        case .deleteWordForward: editor.deleteWordAfter()
        case .historySearch: historySearch = HistorySearch(entries: editor.history)
        case .scroll(let n): transcript.scroll(by: n)
        case .pageUp: transcript.pageUp()
        case .pageDown: transcript.pageDown()
        case .top: transcript.toTop()
        case .bottom: transcript.toBottom()
        case .help: openHelp()
        case .picker: openPicker()
        case .toggleStats: showStats.toggle()
        case .sessions: openSessions()
        case .stop:
            if isStreaming { worker.stop(); say("stopping the reply…") } else if editingMessageID != nil { cancelEdit() } else { notice = nil }
        case .interrupt:
            if let l = lastInterrupt, Date().timeIntervalSince(l) < 2 { quitting = true; return }
            lastInterrupt = Date()
            interruptAwaitingDraw = true
            if isStreaming { worker.stop() }
            say("press Ctrl-C again to quit")
        case .redraw: break
        case .none: break
        }
    }

    func openHelp() { overlay = .help; helpScroll = 0 }

    var overlayOpen: Bool {
        if case .none = overlay { return false }
        return true
    }

    /// Called after each frame: the 2 s for the second Ctrl-C count from when "press
    /// Ctrl-C again" is on the screen, so a slow frame cannot eat the window and leave
    /// Ctrl-C twice unable to quit.
    func startInterruptWindowIfDrawn() {
        guard interruptAwaitingDraw else { return }
        interruptAwaitingDraw = false
        lastInterrupt = Date()
    }

    /// No tokenizer produces fewer than one token per this many bytes of ordinary text, so
    /// a text longer than `context × bytesPerTokenCeiling` bytes cannot fit: refused at
    /// once, without tokenizing megabytes on the UI thread. Shorter texts are measured in
    /// tokens by the worker, which drops old turns or says the prompt does not fit.
    static let bytesPerTokenCeiling = 10

    /// Why sending `text` now cannot work (the system prompt, which is never dropped, or
    /// the message itself is larger than the whole context), or nil.
    func oversizedPrompt(adding text: String) -> String? {
        guard let limit = modelInfo?.contextLength, limit > 0 else { return nil }
        let ceiling = limit * ChatApp.bytesPerTokenCeiling
        let system = conversation.systemPrompt?.utf8.count ?? 0
        func size(_ n: Int) -> String { ByteCountFormatter.string(fromByteCount: Int64(n), countStyle: .file) }
        if system > ceiling {
            return
                "the system prompt is \(size(system)), more than the model's context of \(limit) tokens holds: shorten it (/system TEXT, or system_prompt in config.json)"
        }
        if system + text.utf8.count > ceiling {
            return "this message is \(size(text.utf8.count)), more than the model's context of \(limit) tokens holds with the system prompt"
        }
        return nil
    }

    private func submitInput() {
        let text = editor.text
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        if let parsed = SlashCommands.parse(text) {
            _ = takeInput()
            editingMessageID = nil  // the edited text was replaced by a command
            switch parsed {
            case .success(let c): execute(c)
            case .failure(let e): say(e.description, error: true)
            }
            return
        }
        if readOnly { sayReadOnly(); return }  // first: nothing else would help; the text stays in the input
        if isStreaming { say("a reply is still coming (Esc stops it)", error: true); return }
        if loadingModel != nil { say("the model is still loading", error: true); return }
        if modelInfo == nil {
            say("no model: \(loadFailure ?? "none loaded"); pick another with F2 or /model NAME", error: true); return
        }
        if let refusal = oversizedPrompt(adding: text) { say(refusal, error: true); return }  // the text stays in the input
        var t = takeInput()
        if t.hasPrefix("//") { t.removeFirst() }
        if editingMessageID != nil { cutForEdit() }
        send(t)
    }

    func execute(_ c: SlashCommand) {
        if readOnly && c.changesConversation { sayReadOnly(); return }
        switch c {
        case .model(nil): openPicker()
        case .model(let name?):
            if RemoteModels.reference(name, endpoints: endpoints) != nil { switchModel(path: name, name: name); return }
            let models = ModelCatalog.scan()
            if let m = models.first(where: { $0.name.lowercased() == name.lowercased() }) {
                switchModel(path: m.path, name: m.name)
            } else {
                do { let p = try ModelCatalog.resolve(name); switchModel(path: p, name: ChatApp.catalogName(p)) } catch {
                    say("\(error)", error: true)
                }
            }
        case .system(let t):
            conversation.systemPrompt = t
            persist(now: true)
            say(t == nil ? "system prompt removed" : "system prompt set")
        case .temperature(let t):
            conversation.settings.temperature = t; persist(now: true)
            say("temperature \(t)")
        case .sparsity(let s):
            conversation.settings.sparsity = s; persist(now: true)
            say(isSparkified ? "sparsity \(s): applies to dense models; this model keeps its own (\(sparsityLabel))" : "sparsity \(s)")
        case .speculative(let mode):
            if let m = mode, let why = SettingsValidation.speculative(m, trusted: true) { say("/speculative \(m) \(why)", error: true); return }
            conversation.settings.speculative = mode; persist(now: true)
            say(mode.map { "speculative decoding with \($0): the next reply drafts and verifies" } ?? "speculative decoding off")
        case .clear:
            if isStreaming { say("a reply is still coming (Esc stops it)", error: true); return }
            newSession()
            say("new session")
        case .export(let format, let path):
            let p =
                path.map { NSString(string: $0).expandingTildeInPath }
                ?? FileManager.default.currentDirectoryPath + "/sparkchat-\(conversation.id).\(format.rawValue)"
            do {
                try Exporter.write(conversation, as: format, to: URL(fileURLWithPath: p))
                say("exported to \(p)")
            } catch {
                say("export failed: \(error)", error: true)
            }
        case .copy: copyLastReply()
        case .copyCode(let n): copyCodeBlock(n)
        case .retry: retryLastReply()
        case .edit: editLastUserMessage()
        case .sessions: openSessions()
        case .help: openHelp()
        case .quit: quitting = true
        }
    }
}

extension SlashCommand {
    /// Commands that change the conversation shown (and so its session file): refused in a
    /// read-only window. /clear, /sessions and the rest leave it alone.
    var changesConversation: Bool {
        switch self {
        case .system, .temperature, .sparsity, .speculative, .retry, .edit: return true
        default: return false
        }
    }
}
