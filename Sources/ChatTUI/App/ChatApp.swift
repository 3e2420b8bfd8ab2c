import Foundation
import Inference
import Remote
import Sessions

/// What `sparkchat chat` was asked for on the command line (nil: config or default).
struct ChatOptions {
    var model: String?
    var session: String?
    var theme: String?
    /// Sampling flags: those a session stores become its settings, the rest (penalties,
    /// DRY, loop guard, stop strings) apply to every reply of this run.
    var sampling = SamplingOverrides()
    var sparsity: String?
    var speculative: String?
    var format: String?
    var kvCache: KVCacheType?
    /// A `sparkchat cushion` file: its prefix is cached before every local reply.
    var cushion: String?
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
    /// The OpenAI-compatible endpoints whose models the picker lists beside the local ones.
    let endpoints: [RemoteEndpoint]
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
    /// The chat format the model runs with ("dialogue (base model)", "gemma").
    var chatFormatName: String?
    var loadingModel: String?
    /// How long the current model took to load (mmap, metadata, tokenizer), in ms.
    var modelLoadMs: Double?
    var streamingID: UUID?
    var requestStarted = Date()
    /// The drafter of the reply in progress (nil: plain decoding).
    var requestSpeculative: String?
    var live = LiveStats()
    var notice: (text: String, error: Bool, at: Date)?
    var lastInterrupt: Date?
    var quitting = false
    /// Why the last model load failed (nil once a model loads): sending says so.
    var loadFailure: String?
    /// The input history saved across runs (ChatApp+Input) and a Ctrl-R search in progress.
    var inputHistory: InputHistory?
    var historySearch: HistorySearch?
    /// The user message /edit put back in the editor: sending the input replaces it.
    var editingMessageID: UUID?
    /// Remote endpoints' model lists for the open picker, from a background thread (a slow
    /// endpoint must not freeze the keys).
    let remoteListings = EventQueue<[EndpointListing]>()
    /// The sparkify fit the picker started (ChatApp+Sparkify); nil when none runs.
    var sparkifyJob: SparkifyJob?
    /// When the fit's progress was last drawn (it is redrawn a few times a second).
    var sparkifyDrawn = Date.distantPast
    /// First line of the help overlay shown (it scrolls when the window is short).
    var helpScroll = 0
    /// Another window holds the session shown: it is never written from here (ChatApp+Saving).
    var readOnly = false
    /// The session whose write lock this window holds.
    var lockedID: String?
    /// Conversations whose last save failed, by id: kept in memory, saved again on the next
    /// change, and written to a fallback file when the chat quits with them still unsaved.
    var unsaved: [String: Conversation] = [:]
    /// Set when the chat quit with turns it could not save (the command then exits non-zero).
    var quitWithUnsavedTurns = false
    /// Lines for stderr once the terminal is restored (where unsaved turns went).
    var exitReport: [String] = []
    /// The first Ctrl-C was handled but the screen asking for the second is not drawn yet:
    /// the double-press window starts when the user can see it (ChatApp+Input).
    var interruptAwaitingDraw = false

    /// Validates everything that can fail before the screen is taken over, so those
    /// errors print as one line on a normal terminal.
    init(options: ChatOptions) throws {
        self.options = options
        let (cfg, configNotice) = AppConfig.load()
        config = cfg
        endpoints = RemoteModels.endpoints(cfg)
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
            guard let s = store else { throw ChatError(description: "cannot open session \(id): no session store") }
            conversation = try s.load(id: id)
            // A session file is checked like the config (it may come from someone else); a
            // remote model (ENDPOINT/MODEL_ID of a configured endpoint) is not a file to check.
            let problems = SettingsValidation.sanitize(session: &conversation, remoteEndpoints: endpoints)
            if !problems.isEmpty { notices.append(problems.joined(separator: "; ")) }
        } else {
            conversation = Conversation(systemPrompt: cfg.systemPrompt, settings: ChatApp.defaultSettings(cfg))
        }
        ChatApp.applyOverrides(options, to: &conversation.settings)

        // The model: --model must resolve; a session's or the config's model may have
        // gone, in which case the default is used with a notice.
        // A remote model (ENDPOINT/MODEL_ID) is checked with its endpoint by the worker.
        var path = ""
        var remote: (endpoint: RemoteEndpoint, id: String)?
        if let m = options.model, let r = RemoteModels.reference(m, endpoints: endpoints) {
            remote = r
        } else if let m = options.model {
            path = try ModelCatalog.resolve(m)
        } else if let m = conversation.model ?? cfg.model, let r = RemoteModels.reference(m, endpoints: endpoints) {
            remote = r
        } else if let m = conversation.model ?? cfg.model, let p = try? ModelCatalog.resolve(m) {
            path = p
        } else {
            if let m = conversation.model ?? cfg.model { notices.append("model \(m) not found; using the default") }
            path = try ModelCatalog.defaultModel()
        }

        let noColor = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        terminal = try Terminal(theme: theme, useColor: !noColor)
        Signals.install()  // after curses start-up, which installs handlers of its own
        worker.formatOverride = options.format
        worker.kvCacheOverride = options.kvCache
        worker.cushionPath = options.cushion
        worker.config = cfg
        if let r = remote {
            loadingModel = "\(r.endpoint.name)/\(r.id)"
            worker.submit(.useRemote(r.endpoint, modelID: r.id))
        } else {
            loadingModel = ChatApp.catalogName(path)
            worker.submit(.load(path: path))
        }
        if let n = loadInputHistory() { notices.append(n) }
        if let n = notices.last { say(n, error: true) }
        // Last, so that it is the notice shown: a window that may not write must say so.
        if options.session != nil { claimSession() }
    }

    /// The name messages record: the catalog's (file name without .gguf, or the
    /// checkpoint directory's name), which tells apart two files of the same model.
    static func catalogName(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let bare = url.pathExtension.lowercased() == "gguf" || ModelCatalog.isSparkifyOverlay(url.lastPathComponent)
        return bare ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent
    }

    /// What the FFN runs: the session's run-time setting, or the overlay a sparkified
    /// model carries (run-time sparsity does not apply to it).
    var sparsityLabel: String {
        if modelInfo?.isRemote == true { return "n/a (remote)" }
        guard let info = modelInfo else { return conversation.settings.sparsity }
        // A sparkified or Spark model carries its own sparsity; run-time sparsity is for dense ones.
        if info.sparsity != ModelSparsity.dense { return info.sparsity }
        let s = conversation.settings.sparsity
        return s == "off" ? "dense" : s
    }

    /// The loaded model carries its own sparsity (a sparkify overlay or a Spark checkpoint).
    var isSparkified: Bool { modelInfo.map { !$0.isRemote && $0.sparsity != ModelSparsity.dense } ?? false }

    static func defaultSettings(_ cfg: AppConfig) -> SamplingSettings {
        var s = SamplingSettings()
        if let v = cfg.temperature { s.temperature = v }
        if let v = cfg.maxTokens { s.maxTokens = v }
        if let v = cfg.topK { s.topK = v }
        if let v = cfg.topP { s.topP = v }
        if let v = cfg.seed { s.seed = v }
        if let v = cfg.sparsity, SparsityMode(argument: v) != nil { s.sparsity = v }
        if let v = cfg.speculative { s.speculative = speculativeSetting(v) }
        return s
    }

    static func applyOverrides(_ o: ChatOptions, to s: inout SamplingSettings) {
        if let v = o.sampling.temperature { s.temperature = v }
        if let v = o.sampling.topK { s.topK = v }
        if let v = o.sampling.topP { s.topP = v }
        if let v = o.sampling.minP { s.minP = v }
        if let v = o.sampling.repetitionPenalty { s.repetitionPenalty = v }
        if let v = o.sampling.maxTokens { s.maxTokens = v }
        if let v = o.sampling.seed { s.seed = v }
        if let v = o.sparsity { s.sparsity = v }
        if let v = o.speculative { s.speculative = speculativeSetting(v) }
    }

    /// What SamplingSettings.speculative stores for a drafter argument: its canonical
    /// form, nil for off (and for an invalid one, which the config may hold).
    static func speculativeSetting(_ argument: String) -> String? {
        guard let m = SpeculativeMode(argument: argument), m != .off else { return nil }
        return m.description
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
            for l in remoteListings.drain() { showRemoteModels(l); dirty = true }
            if pollSparkify() { dirty = true }
            if let n = notice, Date().timeIntervalSince(n.at) > 8 { notice = nil; dirty = true }
            if dirty { render(); dirty = false; startInterruptWindowIfDrawn() }
            // Shorter than 30 ms while a lone ESC waits to be told apart from Alt+key.
            guard let bytes = terminal.readInput(timeoutMs: decoder.inputWaitMs(longest: 30)) else { break }  // input closed
            let keys = bytes.isEmpty ? decoder.idle() : decoder.feed(bytes)
            for k in keys where !quitting { handle(k) }
            if !keys.isEmpty { dirty = true }
        }
        finish()
    }

    private func finish() {
        // Quitting must not wait for a long prefill or a huge prompt's tokenization: the
        // worker is told to stop and given half a second; the process exit ends it.
        worker.shutdown(timeout: 0.5)
        // A fit in progress is cancelled; its temporary file goes with it (no half overlay).
        sparkifyJob?.cancelAndWait(timeout: 2)
        // A reply cut by quitting is kept, marked interrupted.
        for e in worker.events.drain() { handle(e) }
        if let id = streamingID, let i = index(of: id) {
            conversation.messages[i].interrupted = true
            conversation.messages[i].stats = live.messageStats
            streamingID = nil
        }
        persist(now: true)
        saveOrCopyUnsaved()
        terminal.shutdown()
        for line in exitReport { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    // MARK: - Generation events

    func handle(_ e: GenerationWorker.Event) {
        switch e {
        case .loaded(var info, let limit, let seconds):
            let switched = modelInfo != nil
            if !info.isRemote { info.name = ChatApp.catalogName(info.path) }
            modelInfo = info
            loadFailure = nil
            modelLoadMs = seconds * 1000
            loadingModel = nil
            live.contextLimit = limit
            conversation.model = info.name
            if !conversation.messages.isEmpty { persist(now: true) }
            let loaded = String(format: "loaded %@ in %.0f ms", info.name, seconds * 1000)
            say(switched ? "\(loaded): switched to \(info.name), the next reply comes from it" : "\(loaded): model \(info.name) ready")
            if readOnly { sayReadOnly() }  // still the thing to know about this window
        case .format(let name, let formatNotice):
            chatFormatName = name
            if let n = formatNotice { say(n, error: true) }
        case .notice(let text, let error):
            say(text, error: error)
        case .loadFailed(let msg):
            loadFailure = "loading \(loadingModel ?? "the model") failed: \(msg)"
            loadingModel = nil
            say("cannot load model: \(msg); pick another with F2 or /model NAME", error: true)
        case .started(let promptTokens, let limit, let dropped):
            let held = (live.kvCacheBytes, live.recurrentStateBytes)  // until this reply's summary
            live = LiveStats(promptTokens: promptTokens, contextLimit: limit, started: requestStarted)
            (live.kvCacheBytes, live.recurrentStateBytes) = held
            live.speculative = requestSpeculative
            live.remote = modelInfo?.isRemote == true
            if dropped > 0 { say("context full: the oldest \(dropped) messages were left out of the prompt") }
        case .token(let t):
            live.add(t)
            if let id = streamingID, let i = index(of: id) {
                conversation.messages[i].text += t.text
                // On disk a reply stays marked interrupted until it completes, so one cut by
                // a crash (kill -9) says so; .done saves the final flag.
                var saved = conversation
                saved.messages[i].interrupted = true
                if !readOnly { autosaver?.update(saved) }
            }
        case .speculation(let proposed, let accepted, let passes):
            live.speculativeProposed = proposed; live.speculativeAccepted = accepted; live.targetPasses = passes
        case .done(let summary, let used):
            live.finish(summary, contextUsed: used)
            if let id = streamingID, let i = index(of: id) {
                conversation.messages[i].stats = live.messageStats
                conversation.messages[i].interrupted = summary.stopReason == .cancelled
                if summary.stopReason == .contextFull { say("the context is full", error: true) }
                if summary.stopReason == .loop { say("stopped the reply: it was repeating itself (/retry for another)", error: true) }
            }
            streamingID = nil
            persist(now: true)
        case .failed(let msg):
            // The conversation is never lost: a partial reply stays, marked interrupted.
            var kept = false
            if let id = streamingID, let i = index(of: id) {
                if conversation.messages[i].text.isEmpty {
                    conversation.messages.remove(at: i)
                } else {
                    conversation.messages[i].interrupted = true
                    conversation.messages[i].stats = live.messageStats
                    kept = true
                }
            }
            streamingID = nil
            persist(now: true)
            say(kept ? "\(msg) (the reply so far is kept, marked interrupted)" : msg, error: true)
        }
    }

    private func index(of id: UUID) -> Int? { conversation.messages.lastIndex { $0.id == id } }

    func say(_ text: String, error: Bool = false) {
        notice = (text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "", error, Date())
    }

    var isStreaming: Bool { streamingID != nil }

    // MARK: - Sending

    func send(_ text: String) {
        guard let info = modelInfo, loadingModel == nil else { say("the model is still loading", error: true); return }
        guard !readOnly else { sayReadOnly(); return }
        conversation.append(Message(role: .user, text: text))
        startReply(info)
    }

    /// Streams the reply to the conversation as it stands (after a new user message,
    /// or after /retry took the old reply away).
    func startReply(_ info: ModelInfo) {
        conversation.model = info.name
        persist(now: true)
        let messages = promptMessages()
        let reply = Message(role: .assistant, text: "", model: info.name)
        conversation.append(reply)
        streamingID = reply.id
        requestStarted = Date()
        transcript.toBottom()
        let s = conversation.settings
        let speculative = s.speculative.flatMap { SpeculativeMode(argument: $0) } ?? .off
        requestSpeculative = speculative == .off ? nil : speculative.description
        // The chat's defaults (repetition control, loop guard), then the session's settings.
        var p = ChatDefaults.parameters()
        p.stop = config.stop ?? []
        p.temperature = s.temperature; p.topK = s.topK; p.topP = s.topP; p.minP = s.minP
        p.repetitionPenalty = s.repetitionPenalty; p.seed = s.seed; p.maxTokens = max(1, s.maxTokens)
        p = options.sampling.runWide.applied(to: p)
        worker.submit(
            .generate(
                .init(
                    messages: messages, parameters: p, sparsity: SparsityMode(argument: s.sparsity) ?? .off,
                    speculative: speculative)))
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
}

extension SamplingOverrides {
    /// The overrides a session does not store (SamplingSettings has no field for them):
    /// they apply to every reply of this run instead.
    var runWide: SamplingOverrides {
        var o = self
        o.temperature = nil; o.topK = nil; o.topP = nil; o.minP = nil
        o.repetitionPenalty = nil; o.maxTokens = nil; o.seed = nil
        return o
    }
}
