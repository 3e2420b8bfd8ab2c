import Foundation

/// A thread-safe stop flag: the UI sets it (Esc), the generation loop reads it between tokens.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func cancel() { lock.lock(); value = true; lock.unlock() }
    public func reset() { lock.lock(); value = false; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// Runs prompts through a model and streams tokens with their statistics.
/// It keeps the model state between calls and reuses the longest common prefix of
/// the previous token sequence, so each chat turn only prefills what is new.
/// Not thread-safe: use one Generator from one thread (or task) at a time.
public final class Generator: @unchecked Sendable {
    public let model: LoadedModel
    public var sparsity: SparsityMode = .off
    private var state: ModelState?
    private var cachedTokens: [Int] = []

    public init(model: LoadedModel) {
        self.model = model
    }

    /// Tokens currently held in the state (for the context meter).
    public var contextTokens: Int { cachedTokens.count }
    public var stateBytes: Int { state?.byteCount ?? 0 }

    public func reset() { state = nil; cachedTokens = [] }

    /// Encodes raw text (BOS added) and generates. Throws on an empty prompt.
    public func generate(prompt: String, parameters: SamplingParameters, cancel: CancellationFlag? = nil,
                         onEvent: (GenerationEvent) -> Void) throws {
        guard !prompt.isEmpty else { throw EngineError.input("empty prompt") }
        let ids = model.tokenizer.encode(prompt, addBOS: true)
        try generate(tokens: ids, parameters: parameters, cancel: cancel, onEvent: onEvent)
    }

    /// Generates after `tokens` (which should start with BOS). Calls `onEvent` on this
    /// thread for each token and once with `.done`.
    public func generate(tokens prompt: [Int], parameters: SamplingParameters, cancel: CancellationFlag? = nil,
                         onEvent: (GenerationEvent) -> Void) throws {
        guard !prompt.isEmpty else { throw EngineError.input("empty prompt") }
        let cfg = model.config
        let capacity = cfg.contextLength
        guard prompt.count < capacity else {
            throw EngineError.input("prompt has \(prompt.count) tokens; the model's context is \(capacity)")
        }
        var summary = GenerationSummary()
        summary.promptTokens = prompt.count

        // Reuse the common prefix (at least one token must be run to get logits).
        var st: ModelState
        var common = 0
        if let s = state {
            while common < min(cachedTokens.count, prompt.count - 1) && cachedTokens[common] == prompt[common] { common += 1 }
            if s.truncate(to: common) { st = s } else { st = cfg.makeFreshState(model.model, capacity); common = 0 }
        } else {
            st = cfg.makeFreshState(model.model, capacity)
        }
        state = st
        cachedTokens = Array(prompt.prefix(common))

        let t0 = Date()
        let newTokens = Array(prompt[common...])
        var prefillStats: [TokenStats] = []
        var logits = try model.model.forward(newTokens, state: st, logitRows: [newTokens.count - 1],
                                             sparsity: sparsity, stats: &prefillStats)
        cachedTokens += newTokens
        summary.prefilledTokens = newTokens.count
        summary.prefillSeconds = Date().timeIntervalSince(t0)

        var sampler = Sampler(parameters)
        var decoder = StreamingDecoder()
        var recent = Array(prompt.suffix(parameters.repetitionWindow))
        let tDecode = Date()
        var tokenStart = t0
        summary.stopReason = .maxTokens
        var generated = 0
        var lastStats = prefillStats.last ?? TokenStats()
        while generated < parameters.maxTokens {
            if cancel?.isCancelled == true { summary.stopReason = .cancelled; break }
            let id = sampler.sample(logits, recent: recent)
            let lp = Sampler.logprob(logits, id)
            if model.tokenizer.isStop(id) {
                summary.stopReason = id == model.tokenizer.eosId ? .eos : .endOfTurn
                break
            }
            generated += 1
            recent.append(id)
            if recent.count > parameters.repetitionWindow { recent.removeFirst() }
            let text = decoder.push(model.tokenizer.pieceBytes(id))
            let now = Date()
            if generated == 1 { summary.timeToFirstToken = now.timeIntervalSince(t0) }
            onEvent(.token(TokenEvent(id: id, text: text, logprob: lp, ms: now.timeIntervalSince(tokenStart) * 1000, stats: lastStats)))
            tokenStart = now
            if generated >= parameters.maxTokens { break }
            if cachedTokens.count + 1 >= capacity { summary.stopReason = .contextFull; break }
            var stats: [TokenStats] = []
            logits = try model.model.forward([id], state: st, logitRows: [0], sparsity: sparsity, stats: &stats)
            cachedTokens.append(id)
            lastStats = stats.first ?? TokenStats()
        }
        let tail = decoder.flush()
        if !tail.isEmpty {
            onEvent(.token(TokenEvent(id: -1, text: tail, logprob: 0, ms: 0, stats: lastStats)))
        }
        summary.generatedTokens = generated
        summary.decodeSeconds = Date().timeIntervalSince(tDecode)
        onEvent(.done(summary))
    }

    /// The same as an async stream, run on a background thread.
    public func stream(tokens: [Int], parameters: SamplingParameters, cancel: CancellationFlag = CancellationFlag())
        -> AsyncThrowingStream<GenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            let thread = Thread { [self] in
                do {
                    try self.generate(tokens: tokens, parameters: parameters, cancel: cancel) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            continuation.onTermination = { _ in cancel.cancel() }
            thread.start()
        }
    }
}

extension ModelConfig {
    func makeFreshState(_ m: LanguageModel, _ capacity: Int) -> ModelState { m.makeState(capacity: capacity) }
}
