import Foundation
import Inference
import Remote
import Sessions

/// The model picker and the sessions list: opening them, their keys, and what they do.
extension ChatApp {
    func openPicker() {
        var problems: [String] = []
        let models = ModelCatalog.scan { problems.append($0) }
        overlay = .picker(ModelPicker(models: models, current: modelInfo?.name))
        if let p = problems.first { say("skipped \(p)", error: true) }
        guard !endpoints.isEmpty else { return }
        // Every endpoint at once, on a thread of its own: the local models are there at
        // once, the remote ones join within the listing's time limit.
        say("asking \(endpoints.map(\.name).joined(separator: ", ")) for their models…")
        let endpoints = self.endpoints, queue = remoteListings
        Thread { queue.push(RemoteClient.listModels(endpoints)) }.start()
    }

    /// Adds the endpoints' models to the picker (if it is still open).
    func showRemoteModels(_ listings: [EndpointListing]) {
        guard case .picker(var p) = overlay else { return }
        var problems: [String] = []
        for l in listings {
            switch l.result {
            case .success(let list): p.models += list.map(RemoteModels.info)
            case .failure(let e):
                p.models.append(RemoteModels.unreachableInfo(l.endpoint.name, why: "\(e)"))
                problems.append("endpoint \(l.endpoint.name) unreachable: \(e)")
            }
        }
        if let i = p.models.firstIndex(where: { $0.name == modelInfo?.name }), p.selected == 0 { p.selected = i }
        overlay = .picker(p)
        if let first = problems.first { say(first, error: true) } else { notice = nil }
    }

    func handlePicker(_ key: Key, _ p: inout ModelPicker) {
        if handleSparkifyKey(key, &p) {
            if case .picker = overlay { overlay = .picker(p) }
            return
        }
        switch key {
        case .enter:
            overlay = .none
            if let m = p.choice {
                if m.architecture == "unreachable" {
                    say("endpoint \(m.name) is unreachable: \(m.chatStyle.reason)", error: true)
                } else {
                    switchModel(path: m.path, name: m.name)
                }
            }
            return
        case .escape, .function(2), .ctrl("c"), .text("q"): overlay = .none; return
        default: if let d = ListNavigation.step(key) { p.move(d) }
        }
        overlay = .picker(p)
    }

    func switchModel(path: String, name: String) {
        if isStreaming { say("wait for the reply (or Esc) before switching models", error: true); return }
        if name == modelInfo?.name && loadingModel == nil { say("already using \(name)"); return }
        loadingModel = name
        if let r = RemoteModels.reference(name, endpoints: endpoints) {
            worker.submit(.useRemote(r.endpoint, modelID: r.id))
            say("connecting to \(name)…")
            return
        }
        worker.submit(.load(path: path))
        say("loading \(name)…")
    }

    // MARK: Sessions

    func newSession() {
        releaseSession()  // a new id: nobody else can hold it
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

    func handleSessions(_ key: Key, _ l: inout SessionsList) {
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
                do {
                    try store?.delete(id: s.id)
                    if s.id == conversation.id {
                        if isStreaming { worker.stop() }
                        newSession()
                    }
                    say("deleted \(s.title)")
                } catch {
                    say("\(error)", error: true)  // e.g. open in another window: nothing was deleted
                }
                refreshSessions(&l)
            } else {
                l.mode = .browse
            }
        case .browse:
            switch key {
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
            default: if let d = ListNavigation.step(key) { l.move(d) }
            }
        }
    }

    func openSession(_ id: String) {
        if id == conversation.id { return }
        if isStreaming { say("a reply is still coming (Esc stops it)", error: true); return }
        guard let s = store else { return }
        do {
            var c = try s.load(id: id)
            let problems = SettingsValidation.sanitize(session: &c, remoteEndpoints: endpoints)
            ChatApp.applyOverrides(options, to: &c.settings)
            conversation = c
            transcript.toBottom()
            live = LiveStats()
            live.contextLimit = modelInfo?.contextLength ?? 0
            say(problems.isEmpty ? "opened \(c.title)" : problems.joined(separator: "; "), error: !problems.isEmpty)
            claimSession()  // another window has it: read-only, with a notice
            if let m = c.model, m != modelInfo?.name, RemoteModels.reference(m, endpoints: endpoints) != nil {
                switchModel(path: m, name: m)
            } else if let m = c.model, m != modelInfo?.name, let p = try? ModelCatalog.resolve(m) {
                switchModel(path: p, name: m)
            } else {
                conversation.model = modelInfo?.name ?? c.model
            }
        } catch {
            say("\(error)", error: true)
        }
    }
}
