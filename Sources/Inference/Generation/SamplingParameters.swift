/// How the next token is picked. `temperature == 0` is greedy and deterministic.
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Double = 0.8
    public var topK: Int = 64  // 0 = off
    public var topP: Double = 0.95  // 1 = off
    public var minP: Double = 0.0  // 0 = off
    /// Repetition penalties (see LogitPenalties): all off by default, so plain
    /// `generate` samples the model's own distribution.
    public var repetitionPenalty: Double = 1.0  // 1 = off; CTRL/llama.cpp multiplicative penalty
    public var presencePenalty: Double = 0  // 0 = off; OpenAI: logit −= presence if the token occurred
    public var frequencyPenalty: Double = 0  // 0 = off; OpenAI: logit −= frequency × occurrences
    /// Tokens (prompt and reply) the three penalties above look back over.
    public var repetitionWindow: Int = 64
    /// DRY: a token extending a verbatim repeat of n >= dryAllowedLength tokens loses
    /// dryMultiplier × dryBase^(n − dryAllowedLength).
    public var dryMultiplier: Double = 0  // 0 = off
    public var dryBase: Double = 1.75
    public var dryAllowedLength: Int = 2
    /// Tokens (prompt and reply) DRY searches for earlier occurrences.
    public var dryWindow: Int = 1024
    /// A token whose text contains one of these ends a DRY match (so does a control token).
    public var drySequenceBreakers: [String] = ["\n", ":", "\"", "*"]
    public var seed: UInt64? = nil
    public var maxTokens: Int = 512
    /// Texts that end the reply (never shown): the chat format's turn markers plus the
    /// user's `--stop` / config `stop`. Empty: only stop tokens end it.
    public var stop: [String] = []
    /// End a reply caught in a verbatim loop (`LoopGuard`), with stop reason `loop`.
    public var loopGuard = false

    public init() {}

    public static var greedy: SamplingParameters { var p = SamplingParameters(); p.temperature = 0; return p }

    /// How many recent tokens the sampler needs to see: the longest penalty window.
    public var historyWindow: Int { max(repetitionWindow, dryMultiplier > 0 ? dryWindow : 0, 1) }
}

/// Run-time sparsity applied to a dense model's FFN (and optionally attention).
public enum SparsityMode: Sendable, Equatable, CustomStringConvertible {
    case off
    /// Statistical top-k on the FFN gate keeping about `fraction` of the neurons.
    case statTopK(fraction: Double)

    /// Parses `off` or `stat-topk:F` (F in (0, 1]).
    public init?(argument: String) {
        if argument == "off" { self = .off; return }
        let prefix = "stat-topk:"
        guard argument.hasPrefix(prefix), let f = Double(argument.dropFirst(prefix.count)), f > 0, f <= 1 else { return nil }
        self = .statTopK(fraction: f)
    }

    public var description: String {
        switch self {
        case .off: return "off"
        case .statTopK(let f): return "stat-topk:\(f)"
        }
    }
}
