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
    /// Lossless speculative decoding (off by default).
    public var speculative: SpeculativeMode = .off
    var speculativeStats = (proposed: 0, accepted: 0, passes: 0)
    /// The model used by `.model` drafting, loaded once.
    var draftModel: (path: String, model: LoadedModel, state: ModelState?, tokens: [Int])?
    var state: ModelState?
    var cachedTokens: [Int] = []
    /// DRY sequence-breaker ids of `model`'s tokenizer.
    var sequenceBreakers: SequenceBreakerCache

    /// Prompt tokens of the first prefill chunk (see `ChunkedPrefill`): a stop falls between chunks.
    public static let prefillChunk = ChunkedPrefill.firstChunk

    /// Drafts proposed and accepted, and target passes, of the reply in progress so
    /// far (read from `onEvent` on the generating thread for a live acceptance rate).
    public var speculativeCounts: (proposed: Int, accepted: Int, passes: Int) { speculativeStats }

    public init(model: LoadedModel) {
        self.model = model
        sequenceBreakers = SequenceBreakerCache(tokenizer: model.tokenizer)
    }

    /// Tokens currently held in the state (for the context meter).
    public var contextTokens: Int { cachedTokens.count }
    public var stateBytes: Int { state?.byteCount ?? 0 }

    public func reset() { state = nil; cachedTokens = [] }

    /// Encodes raw text (BOS added) and generates. Throws on an empty prompt.
    public func generate(
        prompt: String, parameters: SamplingParameters, cancel: CancellationFlag? = nil,
        onEvent: (GenerationEvent) -> Void
    ) throws {
        guard !prompt.isEmpty else { throw EngineError.input("empty prompt") }
        let ids = model.tokenizer.encode(prompt, addBOS: true)
        try generate(tokens: ids, parameters: parameters, cancel: cancel, onEvent: onEvent)
    }

    /// Generates after `tokens` (which should start with BOS). Calls `onEvent` on this
    /// thread for each token and once with `.done`.
    public func generate(
        tokens prompt: [Int], parameters: SamplingParameters, cancel: CancellationFlag? = nil,
        onEvent: (GenerationEvent) -> Void
    ) throws {
        let capacity = try Generator.checkPrompt(prompt, model.config)
        var summary = GenerationSummary()
        summary.promptTokens = prompt.count
        let st = reuseCachedPrefix(of: prompt, capacity: capacity)
        speculativeStats = (0, 0, 0)
        let t0 = Date()
        // Each chunk extends the state and `cachedTokens` together, so a stopped prefill
        // leaves a valid prefix for the next call to reuse.
        var prefillStats: [TokenStats] = []
        var prefilled = 0
        let logits = try ChunkedPrefill(model: model.model, sparsity: sparsity).run(
            Array(prompt[cachedTokens.count...]), state: st, cancel: cancel, stats: &prefillStats,
            prefilled: &prefilled
        ) { self.cachedTokens += $0 }
        summary.prefilledTokens = prefilled
        summary.prefillSeconds = Date().timeIntervalSince(t0)
        summary.kvCacheBytes = st.kvCacheByteCount
        summary.recurrentStateBytes = st.recurrentByteCount
        guard let logits else {
            summary.stopReason = .cancelled
            onEvent(.done(summary))
            return
        }
        try withoutActuallyEscaping(onEvent) { onEvent in
            var emitter = TokenEmitter(
                model: model, prompt: prompt, parameters: parameters, cancel: cancel, start: t0,
                prefillStats: prefillStats, onEvent: onEvent)
            var sampler = Sampler(parameters, sequenceBreakers: sequenceBreakers.ids(for: parameters))
            let tDecode = Date()
            // The first token comes from the prefill's logits; after that, either one
            // token per forward pass or a speculative cycle per pass.
            let first = sampler.sample(logits, recent: emitter.recent)
            if emitter.emit(first, logprob: Sampler.logprob(logits, first)) {
                if speculative != .off {
                    try speculativeDecode(first: first, state: st, sampler: &sampler, emitter: &emitter, capacity: capacity)
                } else {
                    try decode(after: first, state: st, sampler: &sampler, emitter: &emitter, capacity: capacity)
                }
            }
            emitter.finish()
            summary.record(emitter, decodeSeconds: Date().timeIntervalSince(tDecode))
        }
        summary.speculativeProposed = speculativeStats.proposed
        summary.speculativeAccepted = speculativeStats.accepted
        summary.targetPasses = speculativeStats.passes
        summary.kvCacheBytes = st.kvCacheByteCount
        summary.recurrentStateBytes = st.recurrentByteCount
        onEvent(.done(summary))
    }

    /// The context limit, after refusing a prompt that is empty or leaves no room to reply.
    static func checkPrompt(_ prompt: [Int], _ config: ModelConfig) throws -> Int {
        guard !prompt.isEmpty else { throw EngineError.input("empty prompt") }
        guard prompt.count < config.contextLength else {
            throw EngineError.input("prompt has \(prompt.count) tokens; the model's context is \(config.contextLength)")
        }
        return config.contextLength
    }

    /// The state to continue from: the previous call's, cut back to the longest prefix it
    /// shares with `prompt` (at least one token is left to run, for its logits), or a new one.
    private func reuseCachedPrefix(of prompt: [Int], capacity: Int) -> ModelState {
        var common = 0
        var reused: ModelState?
        if let s = state {
            while common < min(cachedTokens.count, prompt.count - 1) && cachedTokens[common] == prompt[common] { common += 1 }
            if s.truncate(to: common) { reused = s } else { common = 0 }
        }
        let st = reused ?? model.model.makeState(capacity: capacity)
        state = st
        cachedTokens = Array(prompt.prefix(common))
        return st
    }

    /// Plain decoding: one forward pass per token until the emitter stops or the context is full.
    private func decode(
        after first: Int, state st: ModelState, sampler: inout Sampler, emitter: inout TokenEmitter, capacity: Int
    ) throws {
        var id = first
        while true {
            if cachedTokens.count + 1 >= capacity { emitter.stopReason = .contextFull; return }
            var stats: [TokenStats] = []
            let logits = try model.model.forward([id], state: st, logitRows: [0], sparsity: sparsity, stats: &stats)
            cachedTokens.append(id)
            emitter.lastStats = stats.first ?? TokenStats()
            id = sampler.sample(logits, recent: emitter.recent)
            if !emitter.emit(id, logprob: Sampler.logprob(logits, id)) { return }
        }
    }

    /// The same as an async stream, run on a background thread.
    public func stream(tokens: [Int], parameters: SamplingParameters, cancel: CancellationFlag = CancellationFlag())
        -> AsyncThrowingStream<GenerationEvent, Error>
    {
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

/// Turns sampled ids into TokenEvents: streaming-safe text, stop tokens, the token
/// budget and cancellation. Returns false from `emit` when generation must stop.
struct TokenEmitter {
    let tokenizer: TextTokenizer
    let parameters: SamplingParameters
    let cancel: CancellationFlag?
    let start: Date
    var recent: [Int]
    let onEvent: (GenerationEvent) -> Void
    var decoder = StreamingDecoder()
    var generated = 0
    var stopReason: StopReason = .maxTokens
    var timeToFirstToken: Double = 0
    var lastStats = TokenStats()
    var tokenStart: Date
    /// Cuts the text at a stop string (nil: no stop strings, the text passes as is).
    var stopFilter: StopStringFilter?
    var loopGuard: LoopGuard?

    init(
        tokenizer: TextTokenizer, parameters: SamplingParameters, cancel: CancellationFlag?, start: Date,
        recent: [Int], onEvent: @escaping (GenerationEvent) -> Void
    ) {
        self.tokenizer = tokenizer; self.parameters = parameters; self.cancel = cancel
        self.start = start; self.recent = recent; self.onEvent = onEvent; self.tokenStart = start
        if !parameters.stop.isEmpty { stopFilter = StopStringFilter(stops: parameters.stop) }
        if parameters.loopGuard { loopGuard = LoopGuard() }
    }

    /// The emitter of a reply to `prompt` whose prefill began at `start`: the penalties'
    /// history starts with the prompt's tail, the first token's stats are the prefill's last.
    init(
        model: LoadedModel, prompt: [Int], parameters: SamplingParameters, cancel: CancellationFlag?, start: Date,
        prefillStats: [TokenStats], onEvent: @escaping (GenerationEvent) -> Void
    ) {
        self.init(
            tokenizer: model.tokenizer, parameters: parameters, cancel: cancel, start: start,
            recent: Array(prompt.suffix(parameters.historyWindow)), onEvent: onEvent)
        lastStats = prefillStats.last ?? TokenStats()
    }

    /// Emits `id` (unless it is a stop token); false when generation is over.
    mutating func emit(_ id: Int, logprob: Float) -> Bool {
        if tokenizer.isStop(id) {
            stopReason = id == tokenizer.eosId ? .eos : .endOfTurn
            return false
        }
        if generated >= parameters.maxTokens { stopReason = .maxTokens; return false }
        generated += 1
        recent.append(id)
        if recent.count > parameters.historyWindow { recent.removeFirst() }
        var text = decoder.push(tokenizer.pieceBytes(id))
        if stopFilter != nil { text = stopFilter!.push(text) }
        let now = Date()
        if generated == 1 { timeToFirstToken = now.timeIntervalSince(start) }
        onEvent(.token(TokenEvent(id: id, text: text, logprob: logprob, ms: now.timeIntervalSince(tokenStart) * 1000, stats: lastStats)))
        tokenStart = now
        if stopFilter?.stopped == true { stopReason = .stopString; return false }
        if loopGuard?.push(id) == true { stopReason = .loop; return false }
        if generated >= parameters.maxTokens { stopReason = .maxTokens; return false }
        if cancel?.isCancelled == true { stopReason = .cancelled; return false }
        return true
    }

    mutating func finish() {
        var tail = decoder.flush()
        if stopFilter != nil { tail = stopFilter!.push(tail) + stopFilter!.flush() }
        if !tail.isEmpty { onEvent(.token(TokenEvent(id: -1, text: tail, logprob: 0, ms: 0, stats: lastStats))) }
    }
}

extension GenerationSummary {
    /// The decode half of the summary, from the emitter that ended the reply.
    mutating func record(_ emitter: TokenEmitter, decodeSeconds: Double) {
        stopReason = emitter.stopReason
        timeToFirstToken = emitter.timeToFirstToken
        generatedTokens = emitter.generated
        self.decodeSeconds = decodeSeconds
    }
}
