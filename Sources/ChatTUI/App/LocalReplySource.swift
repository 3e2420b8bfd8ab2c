import Foundation
import Inference

/// Replies from a model loaded here.
final class LocalReplySource: ReplySource {
    let generator: Generator
    /// `chat --cushion`: run before every prompt, in place of its BOS; never counted as the
    /// prompt's tokens nor shown.
    let cushion: CushionFile?
    init(generator: Generator, cushion: CushionFile? = nil) { self.generator = generator; self.cushion = cushion }

    func reply(_ request: GenerationWorker.Request, cancel: CancellationFlag, events: EventQueue<GenerationWorker.Event>) {
        let g = generator
        let model = g.model
        let limit = model.config.contextLength
        // Keep the prompt inside the context (with room for the reply): drop the
        // oldest turns, never the system prompt or the newest user turn.
        var messages = request.messages
        var tokens = model.tokenizer.encode(model.chatPrompt(messages), addBOS: true)
        var dropped = 0
        let room = max(16, min(request.parameters.maxTokens, limit / 2))
        while tokens.count + room > limit,
            let i = messages.firstIndex(where: { $0.role != .system }), i < messages.count - 1
        {
            if cancel.isCancelled { events.push(.failed("stopped before the reply started")); return }  // Esc, or quitting
            messages.remove(at: i); dropped += 1
            tokens = model.tokenizer.encode(model.chatPrompt(messages), addBOS: true)
        }
        guard tokens.count < limit else {
            // Only the system prompt and the newest message are left, and they alone overflow.
            events.push(.failed("the prompt needs \(tokens.count) tokens and the model's context is \(limit): shorten the system prompt or the message"))
            return
        }
        let promptTokens = tokens.count
        if let c = cushion { tokens = c.prefixing(tokens, bos: model.tokenizer.bosId) }
        guard tokens.count < limit else {
            events.push(.failed("the prompt and the cushion need \(tokens.count) tokens and the model's context is \(limit)"))
            return
        }
        var parameters = request.parameters
        parameters.stop = ChatFormats.stops(model.chatFormat, extra: request.parameters.stop)
        g.sparsity = request.sparsity
        g.speculative = request.speculative
        let speculating = request.speculative != .off
        events.push(.started(promptTokens: promptTokens, contextLimit: limit, droppedMessages: dropped))
        do {
            try g.generate(tokens: tokens, parameters: parameters, cancel: cancel) { event in
                switch event {
                case .token(let t):
                    events.push(.token(t))
                    if speculating {
                        let c = g.speculativeCounts
                        events.push(.speculation(proposed: c.proposed, accepted: c.accepted, passes: c.passes))
                    }
                case .done(let s): events.push(.done(s, contextUsed: g.contextTokens))
                }
            }
        } catch {
            events.push(.failed("\(error)"))
        }
    }
}
