/// Per-sequence state of a model: a KV cache for transformers, a fixed-size recurrent
/// state for Griffin. `length` is the number of tokens already run.
public protocol ModelState: AnyObject {
    var length: Int { get }
    /// Keeps the first `n` tokens (n <= length) so that a shared prompt prefix is reused.
    /// Returns false when the state cannot rewind (recurrent state): the caller restarts.
    func truncate(to n: Int) -> Bool
    /// Bytes the state holds (for the stats panel).
    var byteCount: Int { get }
    /// Of those, the bytes of a constant-size recurrent state (RecurrentGemma's RG-LRU and
    /// conv windows); the rest is the KV cache.
    var recurrentByteCount: Int { get }
}

extension ModelState {
    public var recurrentByteCount: Int { 0 }
    /// The KV cache's share of `byteCount`.
    public var kvCacheByteCount: Int { byteCount - recurrentByteCount }
}

/// One architecture's forward pass. Implementations are a straight read of the
/// paper's equations over shared layers; the hot code is in the kernels.
public protocol LanguageModel: AnyObject {
    var config: ModelConfig { get }
    func makeState(capacity: Int) -> ModelState
    /// Runs `tokens` at positions `state.length ..< state.length + tokens.count` and
    /// appends them to the state. Returns logits (vocabulary-sized rows) for the
    /// positions in `logitRows` (indices into `tokens`), in order, concatenated.
    /// `stats`, when given, receives one entry per token.
    func forward(
        _ tokens: [Int], state: ModelState, logitRows: [Int], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float]
    /// Weight bytes one dense decoded token reads (every layer matrix and the LM head):
    /// with the machine's bandwidth, the physical limit of decode speed.
    var decodeWeightBytes: Int { get }
    /// How this instance runs its arithmetic (sgemm or quantized kernels, batched
    /// attention, gathered sparse FFN): per model, so two users of two models never race.
    var options: RuntimeOptions { get set }
    /// The KV cache layouts this model's attention reads.
    var kvCacheTypes: [KVCacheType] { get }
}

extension LanguageModel {
    public var decodeWeightBytes: Int { 0 }
    public var kvCacheTypes: [KVCacheType] { [.f32] }
    /// A model without kernel choices (a test's toy model) has only the defaults.
    public var options: RuntimeOptions {
        get { RuntimeOptions() }
        set {}
    }
}

/// A model whose forward pass can stop before the LM head. Self-speculative decoding
/// uses it: drafts read a slice of the head, verification reads the full head once
/// for all drafted positions, and the layers are never run twice.
public protocol HiddenStateModel: LanguageModel {
    /// Like `forward`, but returns the final-normed hidden states of `rows` (rows.count × hidden).
    func forwardHidden(
        _ tokens: [Int], state: ModelState, rows: [Int], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float]
    /// Logits of `count` hidden rows over the whole vocabulary, or over `vocabulary` ids only.
    func logits(hidden: [Float], count: Int, vocabulary: [Int32]?) -> [Float]
}

extension HiddenStateModel {
    /// The layers, then the LM head on the requested rows.
    public func forward(
        _ tokens: [Int], state: ModelState, logitRows: [Int], sparsity: SparsityMode,
        stats: UnsafeMutablePointer<[TokenStats]>?
    ) throws -> [Float] {
        let hidden = try forwardHidden(tokens, state: state, rows: logitRows, sparsity: sparsity, stats: stats)
        return logits(hidden: hidden, count: logitRows.count, vocabulary: nil)
    }
}
