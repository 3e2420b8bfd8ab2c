import Foundation
import Inference
import Sessions

/// What `sparkchat chat` was asked for on the command line (nil: config or default).
struct ChatOptions {
    var model: String?
    var session: String?
    var theme: String?
    var temperature: Double?
    var maxTokens: Int?
    var sparsity: String?
    var seed: UInt64?
}

/// The chat: owns the state and runs the event loop on the main thread. Each turn
/// of the loop picks up a resize, drains the generation thread's events, redraws
/// if anything changed, and waits up to 30 ms for input, so keys, scrolling and
/// resizes are served while a reply streams.
final class ChatApp {
    enum Overlay { case none, help, picker(ModelPicker), sessions(SessionsList) }

    let terminal: Terminal
    let worker = GenerationWorker()
    let config: AppConfig
    let options: ChatOptions
    var decoder = KeyDecoder()
    var store: SessionStore?
    var autosaver: AutoSaver?
    var conversation: Conversation
    var editor = InputEditor()
    let transcript = TranscriptView()
    var overlay = Overlay.none
    var showStats = true
    var modelInfo: ModelInfo?
    var loadingModel: String?
    var streamingID: UUID?
    var requestStarted = Date()
    var live = LiveStats()
    var notice: (text: String, error: Bool, at: Date)?
    var lastInterrupt: Date?
    var quitting = false

    /// Validates everything that can fail before the screen is taken over, so those
    /// errors print as one line on a normal terminal.
    init(options: ChatOptions) throws {
        self.options = options
        let (cfg, configNotice) = AppConfig.load()
        config = cfg
        var notices: [String] = configNotice.map { [$0] } ?? []

        var theme: Theme
        if let t = options.theme {
            theme = try Theme.load(t, configDirectory: AppConfig.directory())
        } else {
            do { theme = try Theme.load(cfg.theme ?? "dark", configDirectory: AppConfig.directory()) } catch {
                notices.append("\(error)"); theme = .fallback
            }
        }

        do {
            let s = try SessionStore(directory: SessionStore.defaultDirectory())
            store = s
            autosaver = AutoSaver(store: s)
        } catch {
            notices.append("sessions will not be saved: \(error)")
        }
        if let id = options.session {
            guard let s = store else { throw ThemeError(description: "cannot open session \(id): no session store") }
            conversation = try s.load(id: id)
        } else {
            conversation = Conversation(systemPrompt: cfg.systemPrompt, settings: ChatApp.defaultSettings(cfg))
        }
        ChatApp.applyOverrides(options, to: &conversation.settings)

        // The model: --model must resolve; a session's or the config's model may have
        // gone, in which case the default is used with a notice.
        let path: String
        if let m = options.model {
            path = try ModelCatalog.resolve(m)
        } else if let m = conversation.model ?? cfg.model, let p = try? ModelCatalog.resolve(m) {
            path = p
        } else {
            if let m = conversation.model ?? cfg.model { notices.append("model \(m) not found; using the default") }
            path = try ModelCatalog.defaultModel()
        }

        let noColor = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        terminal = try Terminal(theme: theme, useColor: !noColor)
        Signals.install()   // after curses start-up, which installs handlers of its own
        loadingModel = ChatApp.catalogName(path)
        worker.submit(.load(path: path))
        if let n = notices.last { say(n, error: true) }
    }

    /// The name messages record: the catalog's (file name without .gguf, or the
    /// checkpoint directory's name), which tells apart two files of the same model.
    static func catalogName(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.pathExtension.lowercased() == "gguf" ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent
    }

    static func defaultSettings(_ cfg: AppConfig) -> SamplingSettings {
        var s = SamplingSettings()
        if let v = cfg.temperature { s.temperature = v }
        if let v = cfg.maxTokens { s.maxTokens = v }
        if let v = cfg.topK { s.topK = v }
        if let v = cfg.topP { s.topP = v }
        if let v = cfg.seed { s.seed = v }
        if let v = cfg.sparsity, SparsityMode(argument: v) != nil { s.sparsity = v }
        return s
    }

    static func applyOverrides(_ o: ChatOptions, to s: inout SamplingSettings) {
        if let v = o.temperature { s.temperature = v }
        if let v = o.maxTokens { s.maxTokens = v }
        if let v = o.sparsity { s.sparsity = v }
        if let v = o.seed { s.seed = v }
    }

    // MARK: - Loop

    func run() {
        var dirty = true
        while !quitting {
            if Signals.quitRequested { break }
            if terminal.pollResize() { dirty = true }
            let events = worker.events.drain()
            for e in events { handle(e) }
            if !events.isEmpty { dirty = true }
            if let n = notice, Date().timeIntervalSince(n.at) > 8 { notice = nil; dirty = true }
            if dirty { render(); dirty = false }
            guard let bytes = terminal.readInput(timeoutMs: 30) else { break }   // input closed
            let keys = bytes.isEmpty ? decoder.idle() : decoder.feed(bytes)
            for k in keys where !quitting { handle(k) }
            if !keys.isEmpty { dirty = true }
        }
        finish()
    }

    private func finish() {
        worker.shutdown()
        // A reply cut by quitting is kept, marked interrupted.
        for e in worker.events.drain() { handle(e) }
        if let id = streamingID, let i = index(of: id) {
            conversation.messages[i].interrupted = true
            conversation.messages[i].stats = live.messageStats
            streamingID = nil
        }
        persist(now: true)
        terminal.shutdown()
    }

    // MARK: - Generation events

    func handle(_ e: GenerationWorker.Event) {
        switch e {
        case .loaded(var info, let limit):
            let switched = modelInfo != nil
            info.name = ChatApp.catalogName(info.path)
            modelInfo = info
            loadingModel = nil
            live.contextLimit = limit
            conversation.model = info.name
            if !conversation.messages.isEmpty { persist(now: true) }
            say(switched ? "switched to \(info.name): the next reply comes from it" : "model \(info.name) ready")
        case .loadFailed(let msg):
            loadingModel = nil
            say("cannot load model: \(msg)", error: true)
        case .started(let promptTokens, let limit, let dropped):
            live = LiveStats(promptTokens: promptTokens, contextLimit: limit, started: requestStarted)
            if dropped > 0 { say("context full: the oldest \(dropped) messages were left out of the prompt") }
        case .token(let t):
            live.add(t)
            if let id = streamingID, let i = index(of: id) {
                conversation.messages[i].text += t.text
                autosaver?.update(conversation)
            }
        case .done(let summary, let used):
            live.finish(summary, contextUsed: used)
            if let id = streamingID, let i = index(of: id) {
                conversation.messages[i].stats = live.messageStats
                conversation.messages[i].interrupted = summary.stopReason == .cancelled
                if summary.stopReason == .contextFull { say("the context is full", error: true) }
            }
            streamingID = nil
            persist(now: true)
        case .failed(let msg):
            if let id = streamingID, let i = index(of: id) {
                if conversation.messages[i].text.isEmpty { conversation.messages.remove(at: i) } else { conversation.messages[i].interrupted = true }
            }
            streamingID = nil
            persist(now: true)
            say(msg, error: true)
        }
    }

    private func index(of id: UUID) -> Int? { conversation.messages.lastIndex { $0.id == id } }

    /// Saves the conversation: throttled while streaming, now after each message.
    func persist(now: Bool) {
        guard let a = autosaver, !conversation.messages.isEmpty else { return }
        a.update(conversation)
        if now {
            do { try a.flush() } catch { say("cannot save the session: \(error)", error: true) }
        }
    }

    func say(_ text: String, error: Bool = false) {
        notice = (text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "", error, Date())
    }

    var isStreaming: Bool { streamingID != nil }

    // MARK: - Sending

    func send(_ text: String) {
        guard let info = modelInfo, loadingModel == nil else { say("the model is still loading", error: true); return }
        conversation.append(Message(role: .user, text: text))
        conversation.model = info.name
        persist(now: true)
        let messages = promptMessages()
        let reply = Message(role: .assistant, text: "", model: info.name)
        conversation.append(reply)
        streamingID = reply.id
        requestStarted = Date()
        transcript.toBottom()
        let s = conversation.settings
        var p = SamplingParameters()
        p.temperature = s.temperature; p.topK = s.topK; p.topP = s.topP; p.minP = s.minP
        p.repetitionPenalty = s.repetitionPenalty; p.seed = s.seed; p.maxTokens = max(1, s.maxTokens)
        worker.submit(.generate(.init(messages: messages, parameters: p, sparsity: SparsityMode(argument: s.sparsity) ?? .off)))
    }

    /// The whole conversation for the chat template: whichever model replies re-reads
    /// every turn, including replies other models wrote.
    func promptMessages() -> [ChatMessage] {
        var out: [ChatMessage] = []
        if let s = conversation.systemPrompt, !s.isEmpty { out.append(ChatMessage(role: .system, text: s)) }
        for m in conversation.messages where !m.text.isEmpty {
            switch m.role {
            case .system: out.append(ChatMessage(role: .system, text: m.text))
            case .user: out.append(ChatMessage(role: .user, text: m.text))
            case .assistant: out.append(ChatMessage(role: .model, text: m.text))
            }
        }
        return out
    }

    // MARK: - Keys

    func handle(_ key: Key) {
        switch overlay {
        case .help:
            overlay = .none
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
        case .scroll(let n): transcript.scroll(by: n)
        case .pageUp: transcript.pageUp()
        case .pageDown: transcript.pageDown()
        case .top: transcript.toTop()
        case .bottom: transcript.toBottom()
        case .help: overlay = .help
        case .picker: openPicker()
        case .toggleStats: showStats.toggle()
        case .sessions: openSessions()
        case .stop:
            if isStreaming { worker.stop(); say("stopping the reply…") } else { notice = nil }
        case .interrupt:
            if let l = lastInterrupt, Date().timeIntervalSince(l) < 2 { quitting = true; return }
            lastInterrupt = Date()
            if isStreaming { worker.stop() }
            say("press Ctrl-C again to quit")
        case .redraw: break
        case .none: break
        }
    }

    private func submitInput() {
        let text = editor.text
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        if let parsed = SlashCommands.parse(text) {
            _ = editor.take()
            switch parsed {
            case .success(let c): execute(c)
            case .failure(let e): say(e.description, error: true)
            }
            return
        }
        if isStreaming { say("a reply is still coming (Esc stops it)", error: true); return }
        if loadingModel != nil || modelInfo == nil { say("the model is still loading", error: true); return }
        var t = editor.take()
        if t.hasPrefix("//") { t.removeFirst() }
        send(t)
    }

    func execute(_ c: SlashCommand) {
        switch c {
        case .model(nil): openPicker()
        case .model(let name?):
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
            say("sparsity \(s)")
        case .clear:
            if isStreaming { say("a reply is still coming (Esc stops it)", error: true); return }
            newSession()
            say("new session")
        case .export(let format, let path):
            let p = path.map { NSString(string: $0).expandingTildeInPath }
                ?? FileManager.default.currentDirectoryPath + "/sparkchat-\(conversation.id).\(format.rawValue)"
            do {
                try Exporter.write(conversation, as: format, to: URL(fileURLWithPath: p))
                say("exported to \(p)")
            } catch {
                say("export failed: \(error)", error: true)
            }
        case .copy:
            guard let last = conversation.messages.last(where: { $0.role == .assistant && !$0.text.isEmpty }) else {
                say("no reply to copy yet", error: true); return
            }
            terminal.writeRaw(Clipboard.osc52(last.text))
            say("copied the last reply (\(last.text.count) characters)")
        case .sessions: openSessions()
        case .help: overlay = .help
        case .quit: quitting = true
        }
    }

    // MARK: - Models

    func openPicker() {
        var problems: [String] = []
        let models = ModelCatalog.scan { problems.append($0) }
        overlay = .picker(ModelPicker(models: models, current: modelInfo?.name))
        if let p = problems.first { say("skipped \(p)", error: true) }
    }

    private func handlePicker(_ key: Key, _ p: inout ModelPicker) {
        switch key {
        case .up, .ctrl("p"): p.move(-1)
        case .down, .ctrl("n"): p.move(1)
        case .pageUp: p.move(-10)
        case .pageDown: p.move(10)
        case .enter:
            overlay = .none
            if let m = p.choice { switchModel(path: m.path, name: m.name) }
            return
        case .escape, .function(2), .ctrl("c"), .text("q"): overlay = .none; return
        default: break
        }
        overlay = .picker(p)
    }

    func switchModel(path: String, name: String) {
        if isStreaming { say("wait for the reply (or Esc) before switching models", error: true); return }
        if name == modelInfo?.name && loadingModel == nil { say("already using \(name)"); return }
        loadingModel = name
        worker.submit(.load(path: path))
        say("loading \(name)…")
    }

    // MARK: - Sessions

    func newSession() {
        conversation = Conversation(systemPrompt: config.systemPrompt, settings: ChatApp.defaultSettings(config), model: modelInfo?.name)
        ChatApp.applyOverrides(options, to: &conversation.settings)
        transcript.toBottom()
        live = LiveStats()
        live.contextLimit = modelInfo?.contextLength ?? 0
    }

    func openSessions() {
        guard let s = store else { say("no session store", error: true); return }
        let (list, notices) = s.list()
        overlay = .sessions(SessionsList(sessions: list, current: conversation.id))
        if let n = notices.first { say(n, error: true) }
    }

    private func refreshSessions(_ l: inout SessionsList) {
        guard let s = store else { return }
        let keep = l.selected
        l.sessions = s.list().sessions
        l.current = conversation.id
        l.selected = max(0, min(keep, l.sessions.count - 1))
        l.mode = .browse
    }

    private func handleSessions(_ key: Key, _ l: inout SessionsList) {
        defer { if case .sessions = overlay { overlay = .sessions(l) } }
        switch l.mode {
        case .rename:
            switch key {
            case .enter:
                let title = l.renameEditor.text.trimmingCharacters(in: .whitespacesAndNewlines)
                if let s = l.choice, !title.isEmpty {
                    if s.id == conversation.id { conversation.title = title; persist(now: true) }
                    do { try store?.rename(id: s.id, to: title) } catch { say("\(error)", error: true) }
                }
                refreshSessions(&l)
            case .escape: l.mode = .browse
            case .text(let t), .paste(let t): l.renameEditor.insert(t.replacingOccurrences(of: "\n", with: " "))
            case .backspace: l.renameEditor.backspace()
            case .left: l.renameEditor.left()
            case .right: l.renameEditor.right()
            case .ctrl("u"): l.renameEditor.killToLineStart()
            case .ctrl("w"): l.renameEditor.deleteWordBackward()
            default: break
            }
        case .confirmDelete:
            if key == .text("y") || key == .text("Y"), let s = l.choice {
                do { try store?.delete(id: s.id) } catch { say("\(error)", error: true) }
                if s.id == conversation.id {
                    if isStreaming { worker.stop() }
                    newSession()
                }
                say("deleted \(s.title)")
                refreshSessions(&l)
            } else {
                l.mode = .browse
            }
        case .browse:
            switch key {
            case .up, .ctrl("p"): l.move(-1)
            case .down, .ctrl("n"): l.move(1)
            case .pageUp: l.move(-10)
            case .pageDown: l.move(10)
            case .enter:
                guard let s = l.choice else { return }
                overlay = .none
                openSession(s.id)
            case .text("n"):
                overlay = .none
                if isStreaming { say("a reply is still coming (Esc stops it)", error: true); return }
                newSession(); say("new session")
            case .text("r"):
                guard let s = l.choice else { return }
                l.renameEditor = InputEditor(text: s.title); l.mode = .rename
            case .text("d"), .delete:
                if l.choice != nil { l.mode = .confirmDelete }
            case .escape, .function(4), .ctrl("c"), .text("q"): overlay = .none
            default: break
            }
        }
    }

    func openSession(_ id: String) {
        if id == conversation.id { return }
        if isStreaming { say("a reply is still coming (Esc stops it)", error: true); return }
        guard let s = store else { return }
        do {
            var c = try s.load(id: id)
            ChatApp.applyOverrides(options, to: &c.settings)
            conversation = c
            transcript.toBottom()
            live = LiveStats()
            live.contextLimit = modelInfo?.contextLength ?? 0
            say("opened \(c.title)")
            if let m = c.model, m != modelInfo?.name, let p = try? ModelCatalog.resolve(m) {
                switchModel(path: p, name: m)
            } else {
                conversation.model = modelInfo?.name ?? c.model
            }
        } catch {
            say("\(error)", error: true)
        }
    }

    // MARK: - Drawing

    func render() {
        let w = terminal.width, h = terminal.height
        guard w > 0, h > 0 else { return }
        var canvas = Canvas(width: w, height: h)
        let layout = Layout.compute(width: w, height: h, inputLines: editor.preferredRows(width: w), showStats: showStats)
        let modelLabel = loadingModel.map { "loading \($0)…" } ?? modelInfo?.name ?? "no model"

        canvas.fill(layout.title, role: .status)
        canvas.put(" SparkChat · \(modelLabel) · \(DisplayText.singleLine(conversation.title))", x: 0, y: layout.title.y, role: .status, clip: layout.title)
        if isStreaming {
            let tag = " ● generating \(live.tokens) "
            canvas.put(tag, x: w - TextWidth.of(tag), y: layout.title.y, role: .status, clip: layout.title)
        }

        transcript.render(conversation.messages, streaming: streamingID, into: &canvas, rect: layout.transcript)
        if let r = layout.stats {
            StatsPanel.render(live, model: modelInfo?.name ?? "–", sparsity: conversation.settings.sparsity,
                              streaming: isStreaming, into: &canvas, rect: r)
        }

        if !layout.separator.isEmpty {
            let s = conversation.settings
            let info = "─ temp \(s.temperature) · max \(s.maxTokens) · sparsity \(s.sparsity) · ctx \(live.contextUsed)/\(live.contextLimit) "
            canvas.put(info + String(repeating: "─", count: max(0, w)), x: 0, y: layout.separator.y, role: .border, clip: layout.separator)
        }

        var cursor = editor.render(into: &canvas, rect: layout.input, placeholder: "Type a message · Enter sends · F1 help")

        canvas.fill(layout.status, role: .dim)
        if let n = notice {
            canvas.put(" " + n.text, x: 0, y: layout.status.y, role: n.error ? .error : .notice, clip: layout.status)
        } else {
            let hint = isStreaming ? " Esc stop · PgUp/PgDn scroll · F3 stats · Ctrl-C twice quit"
                                   : " F1 help · F2 model · F3 stats · F4 sessions · Ctrl-C twice quit"
            canvas.put(hint, x: 0, y: layout.status.y, role: .dim, clip: layout.status)
        }

        let screen = canvas.bounds
        switch overlay {
        case .none: break
        case .help: HelpOverlay.render(into: &canvas, screen: screen); cursor = nil
        case .picker(let p): p.render(into: &canvas, screen: screen); cursor = nil
        case .sessions(let l): cursor = l.render(into: &canvas, screen: screen)
        }
        terminal.draw(canvas, cursor: cursor)
    }
}
