import Foundation

/// Continuous batching for one model: sequences join at any time (their prompt is
/// prefilled into a state of their own and their first token emitted), then every
/// `step` decodes one token for all of them in one batched pass, and a finished or
/// cancelled sequence leaves at once. Sampling, stop strings, the loop guard and the
/// events are those of `Generator` (one TokenEmitter and Sampler per sequence), so a
/// client sees the same stream either way. No prefix reuse between sequences.
/// Not thread-safe: one thread calls `add` and `step`.
public final class BatchGenerator: @unchecked Sendable {
    public let model: LoadedModel
    public var sparsity: SparsityMode = .off
    private let batchModel: BatchDecodingModel
    private var sequences: [Running] = []
    private var breakerCache: (breakers: [String], ids: Set<Int>)?

    final class Running {
        let state: ModelState
        var sampler: Sampler
        var emitter: TokenEmitter
        var summary: GenerationSummary
        /// The sampled token the next step runs.
        var next: Int
        let decodeStart = Date()
        init(state: ModelState, sampler: Sampler, emitter: TokenEmitter, summary: GenerationSummary, next: Int) {
            self.state = state; self.sampler = sampler; self.emitter = emitter; self.summary = summary; self.next = next
        }
    }

    /// nil when the model's architecture has no batched decode.
    public init?(model: LoadedModel) {
        guard let m = model.model as? BatchDecodingModel else { return nil }
        self.model = model; batchModel = m
    }

    /// Sequences still decoding.
    public var count: Int { sequences.count }

    /// Prefills `prompt` (which should start with BOS) and emits the first token; the
    /// sequence then decodes with the others at each `step`. Events come on this thread,
    /// ending with `.done`.
    public func add(
        tokens prompt: [Int], parameters: SamplingParameters, cancel: CancellationFlag? = nil,
        onEvent: @escaping (GenerationEvent) -> Void
    ) throws {
        guard !prompt.isEmpty else { throw EngineError.input("empty prompt") }
        let capacity = model.config.contextLength
        guard prompt.count < capacity else {
            throw EngineError.input("prompt has \(prompt.count) tokens; the model's context is \(capacity)")
        }
        var summary = GenerationSummary()
        summary.promptTokens = prompt.count
        let t0 = Date()
        let state = model.model.makeState(capacity: capacity)
        var prefillStats: [TokenStats] = []
        // The prompt goes in Generator's chunks (so a sequence alone gets Generator's
        // arithmetic), and a stop is honoured between them.
        var logits: [Float] = []
        var start = 0
        var chunkSize = Generator.prefillChunk
        while start < prompt.count {
            if cancel?.isCancelled == true {
                summary.prefilledTokens = start
                summary.prefillSeconds = Date().timeIntervalSince(t0)
                summary.stopReason = .cancelled
                onEvent(.done(summary))
                return
            }
            let end = min(prompt.count, start + chunkSize)
            let chunk = Array(prompt[start..<end])
            let tChunk = Date()
            logits = try model.model.forward(
                chunk, state: state, logitRows: end == prompt.count ? [chunk.count - 1] : [],
                sparsity: sparsity, stats: &prefillStats)
            start = end
            let perToken = Date().timeIntervalSince(tChunk) / Double(chunk.count)
            let units = Int(Generator.prefillChunkSeconds / max(perToken, 1e-9)) / Generator.prefillChunk
            chunkSize = min(Generator.maxPrefillChunk, max(1, units) * Generator.prefillChunk)
        }
        summary.prefilledTokens = prompt.count
        summary.prefillSeconds = Date().timeIntervalSince(t0)
        var emitter = TokenEmitter(
            tokenizer: model.tokenizer, parameters: parameters, cancel: cancel, start: t0,
            recent: Array(prompt.suffix(parameters.historyWindow)), onEvent: onEvent)
        emitter.lastStats = prefillStats.last ?? TokenStats()
        var sampler = Sampler(parameters, sequenceBreakers: breakers(for: parameters))
        let id = sampler.sample(logits, recent: emitter.recent)
        let going = emitter.emit(id, logprob: Sampler.logprob(logits, id))
        let seq = Running(state: state, sampler: sampler, emitter: emitter, summary: summary, next: id)
        if going { sequences.append(seq) } else { finish(seq) }
    }

    /// One token for every sequence, in one batched pass. A sequence that is cancelled
    /// or whose context is full ends before the pass.
    public func step() throws {
        let capacity = model.config.contextLength
        sequences.removeAll { seq in
            if seq.emitter.cancel?.isCancelled == true {
                seq.emitter.stopReason = .cancelled
            } else if seq.state.length + 1 >= capacity {
                seq.emitter.stopReason = .contextFull
            } else {
                return false
            }
            finish(seq)
            return true
        }
        guard !sequences.isEmpty else { return }
        var stats: [TokenStats] = []
        let logits: [Float]
        do {
            logits = try batchModel.decodeBatch(
                sequences.map(\.next), states: sequences.map(\.state), sparsity: sparsity,
                stats: &stats)
        } catch {
            // The states are half-written: every sequence ends here (reported as cancelled,
            // so each client's reply is closed), and the caller learns why.
            cancelAll()
            throw error
        }
        let V = logits.count / sequences.count
        var still: [Running] = []
        for (i, seq) in sequences.enumerated() {
            if i < stats.count { seq.emitter.lastStats = stats[i] }
            let row = Array(logits[(i * V)..<((i + 1) * V)])
            let id = seq.sampler.sample(row, recent: seq.emitter.recent)
            seq.next = id
            if seq.emitter.emit(id, logprob: Sampler.logprob(row, id)) { still.append(seq) } else { finish(seq) }
        }
        sequences = still
    }

    /// Ends every sequence as cancelled (the server stops).
    public func cancelAll() {
        for seq in sequences { seq.emitter.stopReason = .cancelled; finish(seq) }
        sequences = []
    }

    private func finish(_ seq: Running) {
        seq.emitter.finish()
        seq.summary.stopReason = seq.emitter.stopReason
        seq.summary.timeToFirstToken = seq.emitter.timeToFirstToken
        seq.summary.generatedTokens = seq.emitter.generated
        seq.summary.decodeSeconds = Date().timeIntervalSince(seq.decodeStart)
        seq.emitter.onEvent(.done(seq.summary))
    }

    private func breakers(for parameters: SamplingParameters) -> Set<Int> {
        guard parameters.dryMultiplier > 0 else { return [] }
        if let c = breakerCache, c.breakers == parameters.drySequenceBreakers { return c.ids }
        let ids = DRYPenalty.sequenceBreakerIds(tokenizer: model.tokenizer, breakers: parameters.drySequenceBreakers)
        breakerCache = (parameters.drySequenceBreakers, ids)
        return ids
    }
}
