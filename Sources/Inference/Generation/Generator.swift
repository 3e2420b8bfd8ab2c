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
    /// DRY sequence-breaker ids of `model`'s tokenizer for one breaker list (see `sequenceBreakerIds`).
    var sequenceBreakerCache: (breakers: [String], ids: Set<Int>)?

    /// Prompt tokens run per forward call during prefill: the first chunk's size, and
    /// the unit of every later one. The stop flag is read between calls, so the chunk
    /// bounds how long a stop waits while a prompt is read.
    public static let prefillChunk = 64
    /// Later chunks grow (in units of `prefillChunk`, up to `maxPrefillChunk`) to about
    /// this much work, because small chunks cost prefill speed (measured on 2 busy
    /// cores: 64-token chunks ran 11% slower than 512-token ones, 128-token ones 6%).
    static let prefillChunkSeconds = 0.25
    static let maxPrefillChunk = 512

    /// Drafts proposed and accepted, and target passes, of the reply in progress so
    /// far (read from `onEvent` on the generating thread for a live acceptance rate).
    public var speculativeCounts: (proposed: Int, accepted: Int, passes: Int) { speculativeStats }

    public init(model: LoadedModel) {
        self.model = model
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
            if s.truncate(to: common) { st = s } else { st = model.model.makeState(capacity: capacity); common = 0 }
        } else {
            st = model.model.makeState(capacity: capacity)
        }
        state = st
        cachedTokens = Array(prompt.prefix(common))

        speculativeStats = (0, 0, 0)
        let t0 = Date()
        let newTokens = Array(prompt[common...])
        // The prompt goes in chunks so that a stop (Esc) is honoured while a long
        // prompt is read, not only after the first token. Each chunk extends the state
        // and `cachedTokens` together, so a stopped prefill leaves a valid prefix for
        // the next call to reuse.
        var prefillStats: [TokenStats] = []
        var logits: [Float] = []
        var start = 0
        var chunkSize = Generator.prefillChunk
        while start < newTokens.count {
            if cancel?.isCancelled == true {
                summary.prefilledTokens = start
                summary.prefillSeconds = Date().timeIntervalSince(t0)
                summary.stopReason = .cancelled
                onEvent(.done(summary))
                return
            }
            let end = min(newTokens.count, start + chunkSize)
            let chunk = Array(newTokens[start..<end])
            let last = end == newTokens.count
            let tChunk = Date()
            logits = try model.model.forward(
                chunk, state: st, logitRows: last ? [chunk.count - 1] : [],
                sparsity: sparsity, stats: &prefillStats)
            cachedTokens += chunk
            start = end
            let perToken = Date().timeIntervalSince(tChunk) / Double(chunk.count)
            let units = Int(Generator.prefillChunkSeconds / max(perToken, 1e-9)) / Generator.prefillChunk
            chunkSize = min(Generator.maxPrefillChunk, max(1, units) * Generator.prefillChunk)
        }
        summary.prefilledTokens = newTokens.count
        summary.prefillSeconds = Date().timeIntervalSince(t0)

        try withoutActuallyEscaping(onEvent) { onEvent in
            var emitter = TokenEmitter(
                tokenizer: model.tokenizer, parameters: parameters, cancel: cancel,
                start: t0, recent: Array(prompt.suffix(parameters.historyWindow)), onEvent: onEvent)
            emitter.lastStats = prefillStats.last ?? TokenStats()
            var sampler = Sampler(parameters, sequenceBreakers: sequenceBreakerIds(for: parameters))
            let tDecode = Date()
            // The first token comes from the prefill's logits; after that, either one
            // token per forward pass or a speculative cycle per pass.
            var id = sampler.sample(logits, recent: emitter.recent)
            if emitter.emit(id, logprob: Sampler.logprob(logits, id)) {
                if speculative != .off {
                    try speculativeDecode(first: id, state: st, sampler: &sampler, emitter: &emitter, capacity: capacity)
                } else {
                    while true {
                        if cachedTokens.count + 1 >= capacity { emitter.stopReason = .contextFull; break }
                        var stats: [TokenStats] = []
                        logits = try model.model.forward([id], state: st, logitRows: [0], sparsity: sparsity, stats: &stats)
                        cachedTokens.append(id)
                        emitter.lastStats = stats.first ?? TokenStats()
                        id = sampler.sample(logits, recent: emitter.recent)
                        if !emitter.emit(id, logprob: Sampler.logprob(logits, id)) { break }
                    }
                }
            }
            emitter.finish()
            summary.stopReason = emitter.stopReason
            summary.timeToFirstToken = emitter.timeToFirstToken
            summary.generatedTokens = emitter.generated
            summary.decodeSeconds = Date().timeIntervalSince(tDecode)
        }
        summary.speculativeProposed = speculativeStats.proposed
        summary.speculativeAccepted = speculativeStats.accepted
        summary.targetPasses = speculativeStats.passes
        onEvent(.done(summary))
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
