/// What the kernels did for one token, counted where the work was done.
public struct TokenStats: Sendable, Equatable, Codable {
    /// Active FFN neurons per layer (equal to the FFN width when dense).
    public var ffnActivePerLayer: [Int] = []
    /// FFN width per layer.
    public var ffnTotalPerLayer: [Int] = []
    /// Keys attended per attention layer (0 for layers without attention, e.g. recurrent blocks).
    public var attendedPerLayer: [Int] = []
    /// Context length (keys available) at this token.
    public var contextLength: Int = 0
    /// FLOPs (2 x multiply-adds) as computed, and as the dense model would compute them.
    public var flops: Double = 0
    public var flopsDense: Double = 0

    public init() {}

    public var ffnActive: Int { ffnActivePerLayer.reduce(0, +) }
    public var ffnTotal: Int { ffnTotalPerLayer.reduce(0, +) }
    public var attended: Int { attendedPerLayer.reduce(0, +) }
    public var ffnActiveFraction: Double { ffnTotal == 0 ? 1 : Double(ffnActive) / Double(ffnTotal) }
}

/// One generated token with its statistics.
public struct TokenEvent: Sendable {
    public let id: Int
    /// Text this token completes (streaming-safe: a UTF-8 sequence split across
    /// tokens is emitted once it is whole).
    public let text: String
    public let logprob: Float
    /// Wall time of this token's forward pass and sampling, in milliseconds.
    public let ms: Double
    public let stats: TokenStats

    public init(id: Int, text: String, logprob: Float, ms: Double, stats: TokenStats) {
        self.id = id; self.text = text; self.logprob = logprob; self.ms = ms; self.stats = stats
    }
}

public enum StopReason: String, Sendable, Codable {
    case endOfTurn = "end_of_turn", eos, maxTokens = "max_tokens", cancelled, contextFull = "context_full"
    /// A stop string (the next turn's marker, or `--stop`) ended the reply.
    case stopString = "stop_string"
    /// The loop guard ended a reply that was repeating itself verbatim.
    case loop

    /// Did the reply end by itself (not cut by a limit, a stop or the loop guard)?
    public var endedByItself: Bool { self == .endOfTurn || self == .eos || self == .stopString }
}

/// Summary once generation ends.
public struct GenerationSummary: Sendable {
    public var promptTokens: Int = 0
    /// Tokens of the prompt actually run through the model (the rest came from the cache).
    public var prefilledTokens: Int = 0
    public var generatedTokens: Int = 0
    public var prefillSeconds: Double = 0
    public var decodeSeconds: Double = 0
    public var timeToFirstToken: Double = 0
    public var stopReason: StopReason = .maxTokens
    public var speculativeAccepted: Int = 0
    public var speculativeProposed: Int = 0
    public var targetPasses: Int = 0
    /// Bytes the sequence's state holds at the end: its KV cache (as allocated, in the
    /// model's `--kv-cache` layout) and a recurrent model's constant recurrent state.
    public var kvCacheBytes: Int = 0
    public var recurrentStateBytes: Int = 0

    public init() {}
    public var prefillTPS: Double { prefillSeconds > 0 ? Double(prefilledTokens) / prefillSeconds : 0 }
    public var decodeTPS: Double { decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0 }
}

public enum GenerationEvent: Sendable {
    case token(TokenEvent)
    case done(GenerationSummary)
}
