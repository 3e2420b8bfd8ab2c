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
    private var sequenceBreakers: SequenceBreakerCache

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
        sequenceBreakers = SequenceBreakerCache(tokenizer: model.tokenizer)
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
        let capacity = try Generator.checkPrompt(prompt, model.config)
        var summary = GenerationSummary()
        summary.promptTokens = prompt.count
        let t0 = Date()
        let state = model.model.makeState(capacity: capacity)
        var prefillStats: [TokenStats] = []
        var prefilled = 0
        let logits = try ChunkedPrefill(model: model.model, sparsity: sparsity).run(
            prompt, state: state, cancel: cancel, stats: &prefillStats, prefilled: &prefilled)
        summary.prefilledTokens = prefilled
        summary.prefillSeconds = Date().timeIntervalSince(t0)
        guard let logits else {
            summary.stopReason = .cancelled
            onEvent(.done(summary))
            return
        }
        var emitter = TokenEmitter(
            model: model, prompt: prompt, parameters: parameters, cancel: cancel, start: t0,
            prefillStats: prefillStats, onEvent: onEvent)
        var sampler = Sampler(parameters, sequenceBreakers: sequenceBreakers.ids(for: parameters))
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
        seq.summary.record(seq.emitter, decodeSeconds: Date().timeIntervalSince(seq.decodeStart))
        seq.emitter.onEvent(.done(seq.summary))
    }
}
