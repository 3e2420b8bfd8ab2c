import Foundation
import Inference
import Remote

/// Replies streamed from a model on an OpenAI-compatible endpoint. The whole conversation
/// goes as chat messages (the server applies its own template), so a conversation begun
/// with a local model goes on here with every turn.
final class RemoteReplySource: ReplySource {
    let endpoint: RemoteEndpoint
    let modelID: String
    let contextLength: Int
    var timeouts = RemoteTimeouts.chat

    init(endpoint: RemoteEndpoint, modelID: String, contextLength: Int) {
        self.endpoint = endpoint; self.modelID = modelID; self.contextLength = contextLength
    }

    var name: String { "\(endpoint.name)/\(modelID)" }

    static func chatMessages(_ messages: [ChatMessage]) -> [(role: String, content: String)] {
        messages.map { m in
            switch m.role {
            case .system: return ("system", m.text)
            case .user: return ("user", m.text)
            case .model: return ("assistant", m.text)
            }
        }
    }

    func reply(_ request: GenerationWorker.Request, cancel: CancellationFlag, events: EventQueue<GenerationWorker.Event>) {
        var c = CompletionRequest(model: modelID, input: .chat(RemoteReplySource.chatMessages(request.messages)))
        let p = request.parameters
        c.temperature = Double(p.temperature); c.topP = Double(p.topP); c.maxTokens = p.maxTokens; c.seed = p.seed
        c.stop = p.stop
        events.push(.started(promptTokens: 0, contextLimit: contextLength, droppedMessages: 0))
        let meter = RemoteStreamMeter()
        do {
            let outcome = try RemoteClient.stream(
                endpoint, c, timeouts: timeouts, isCancelled: { cancel.isCancelled },
                onEvent: { e in if let t = meter.take(e) { events.push(.token(t)) } })
            let s = meter.summary(outcome)
            events.push(.done(s, contextUsed: s.promptTokens + s.generatedTokens))
        } catch {
            events.push(.failed("\(name): \(error)"))
        }
    }
}

/// Turns a remote stream into the engine's events: each text piece a TokenEvent (its
/// sparsity stats only when the server sent x_sparkchat), and a summary with the timings
/// measured here and the token counts the server reported.
final class RemoteStreamMeter {
    let started = Date()
    private(set) var firstAt: Date?
    private(set) var lastAt: Date?
    private(set) var pieces = 0
    private(set) var usage: (prompt: Int, completion: Int)?

    func take(_ e: StreamEvent, now: Date = Date()) -> TokenEvent? {
        switch e {
        case .usage(let p, let c):
            usage = (p, c); return nil
        case .text(let text, let stats):
            let ms = now.timeIntervalSince(lastAt ?? started) * 1000
            if firstAt == nil { firstAt = now }
            lastAt = now
            pieces += 1
            return TokenEvent(id: 0, text: text, logprob: .nan, ms: ms, stats: RemoteStreamMeter.tokenStats(stats))
        }
    }

    /// The server's counts as one-layer stats (it reports totals, not per-layer figures).
    static func tokenStats(_ s: ServerTokenStats?) -> TokenStats {
        var t = TokenStats()
        guard let s else { return t }
        t.ffnActivePerLayer = [s.ffnActive]; t.ffnTotalPerLayer = [s.ffnTotal]; t.attendedPerLayer = [s.attended]
        t.flops = s.flops; t.flopsDense = s.flopsDense
        return t
    }

    func summary(_ outcome: StreamOutcome?) -> GenerationSummary {
        var s = GenerationSummary()
        s.promptTokens = usage?.prompt ?? 0
        s.generatedTokens = usage?.completion ?? pieces
        if let f = firstAt {
            s.timeToFirstToken = f.timeIntervalSince(started)
            // Tokens after the first over the time they took, as the local engine's decode rate.
            if let l = lastAt, l > f, s.generatedTokens > 1 {
                s.decodeSeconds = l.timeIntervalSince(f) * Double(s.generatedTokens) / Double(s.generatedTokens - 1)
            }
        }
        s.stopReason = RemoteStreamMeter.stopReason(outcome)
        return s
    }

    static func stopReason(_ o: StreamOutcome?) -> StopReason {
        guard let o, !o.cancelled else { return .cancelled }
        switch o.finishReason {
        case "length": return .maxTokens
        default: return .endOfTurn
        }
    }
}
