import Foundation
import Inference

/// A lock-protected FIFO that hands events from the generation thread to the UI loop.
final class EventQueue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func push(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    func drain() -> [T] { lock.lock(); defer { lock.unlock() }; let out = items; items = []; return out }
}

/// Loads models and generates replies on its own thread (8 MB stack, as the engine's
/// own streaming thread), so the UI loop keeps serving keys and resizes. Jobs run
/// one at a time in order; results come back through `events`.
final class GenerationWorker: @unchecked Sendable {
    struct Request {
        var messages: [ChatMessage]
        var parameters: SamplingParameters
        var sparsity: SparsityMode
        var speculative: SpeculativeMode = .off
    }
    enum Job {
        case load(path: String)
        case generate(Request)
        case quit
    }
    enum Event {
        /// `seconds`: wall time of the load (map the file, read metadata and tokenizer).
        case loaded(ModelInfo, contextLimit: Int, seconds: Double)
        case loadFailed(String)
        /// The chat format the loaded model runs with, and a notice when the chosen one could not be used.
        case format(String, notice: String?)
        case started(promptTokens: Int, contextLimit: Int, droppedMessages: Int)
        case token(TokenEvent)
        /// Running speculative-decoding counts of the reply, after each token while a drafter is on.
        case speculation(proposed: Int, accepted: Int, passes: Int)
        case done(GenerationSummary, contextUsed: Int)
        case failed(String)
    }

    let events = EventQueue<Event>()
    let cancel = CancellationFlag()
    private let lock = NSLock()
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var jobs: [Job] = []
    private var generator: Generator?
    /// `--format` (wins), else config.json's `formats` entry for the model, else the model's files decide.
    var formatOverride: String?
    var config = AppConfig()

    init() {
        let t = Thread { [self] in self.loop() }
        t.stackSize = 8 << 20
        t.name = "generation"
        t.start()
    }

    func submit(_ job: Job) {
        // A new reply starts unstopped; resetting here rather than when the job starts
        // keeps an Esc pressed while the prompt is being tokenized.
        if case .generate = job { cancel.reset() }
        lock.lock(); jobs.append(job); lock.unlock()
        wake.signal()
    }

    /// Stops the reply in progress (Esc): after its current token, or between prompt
    /// chunks while the prompt is still being read.
    func stop() { cancel.cancel() }

    /// Stops generation and waits (bounded) for the thread to end.
    func shutdown(timeout: TimeInterval = 5) {
        cancel.cancel()
        lock.lock(); jobs.removeAll(); lock.unlock()
        submit(.quit)
        _ = finished.wait(timeout: .now() + timeout)
    }

    private func loop() {
        while true {
            wake.wait()
            lock.lock()
            guard !jobs.isEmpty else { lock.unlock(); continue }
            let job = jobs.removeFirst()
            lock.unlock()
            switch job {
            case .quit:
                finished.signal()
                return
            case .load(let path):
                do {
                    let t0 = Date()
                    let m = try LoadedModel.load(path: path)
                    generator = Generator(model: m)
                    events.push(.loaded(m.info, contextLimit: m.config.contextLength, seconds: Date().timeIntervalSince(t0)))
                    var formatNotice: String? = nil
                    do { try ChatFormats.apply(formatOverride ?? config.format(for: m.info), to: m) } catch {
                        formatNotice = "\(error); using \(m.chatFormat.name)"
                    }
                    events.push(.format(m.chatFormat.name + (m.chatFormat.isDialogueFrame ? " (base model)" : ""), notice: formatNotice))
                    warmFormatPrefix(m)
                } catch {
                    events.push(.loadFailed("\(error)"))
                }
            case .generate(let request):
                run(request)
            }
        }
    }

    /// Reads the fixed start of the chat format (a dialogue frame's instruction and
    /// examples, ~120 tokens) into the model state right after loading, while the user
    /// types: the first reply then only prefills the user's turn (the generator reuses
    /// the common prefix), instead of paying ~0.5 s for the frame on the first message.
    private func warmFormatPrefix(_ m: LoadedModel) {
        let prefix = m.chatPrompt([], addGenerationPrompt: false)
        guard !prefix.isEmpty, let g = generator else { return }
        var p = SamplingParameters.greedy
        p.maxTokens = 0
        try? g.generate(tokens: m.tokenizer.encode(prefix, addBOS: true), parameters: p, cancel: cancel) { _ in }
    }

    private func run(_ request: Request) {
        guard let g = generator else { events.push(.failed("no model loaded")); return }
        let model = g.model
        let limit = model.config.contextLength
        // Keep the prompt inside the context (with room for the reply): drop the
        // oldest turns, never the system prompt or the newest user turn.
        var messages = request.messages
        var tokens = model.tokenizer.encode(model.chatPrompt(messages), addBOS: true)
        var dropped = 0
        let room = max(16, min(request.parameters.maxTokens, limit / 2))
        while tokens.count + room > limit,
              let i = messages.firstIndex(where: { $0.role != .system }), i < messages.count - 1 {
            if cancel.isCancelled { events.push(.failed("stopped before the reply started")); return }   // Esc, or quitting
            messages.remove(at: i); dropped += 1
            tokens = model.tokenizer.encode(model.chatPrompt(messages), addBOS: true)
        }
        guard tokens.count < limit else {
            // Only the system prompt and the newest message are left, and they alone overflow.
            events.push(.failed("the prompt needs \(tokens.count) tokens and the model's context is \(limit): shorten the system prompt or the message"))
            return
        }
        var parameters = request.parameters
        parameters.stop = ChatFormats.stops(model.chatFormat, extra: request.parameters.stop)
        g.sparsity = request.sparsity
        g.speculative = request.speculative
        let speculating = request.speculative != .off
        events.push(.started(promptTokens: tokens.count, contextLimit: limit, droppedMessages: dropped))
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
