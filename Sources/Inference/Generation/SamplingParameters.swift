/// How the next token is picked. `temperature == 0` is greedy and deterministic.
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Double = 0.8
    public var topK: Int = 64          // 0 = off
    public var topP: Double = 0.95     // 1 = off
    public var minP: Double = 0.0      // 0 = off
    public var repetitionPenalty: Double = 1.0 // 1 = off
    public var repetitionWindow: Int = 64
    public var seed: UInt64? = nil
    public var maxTokens: Int = 512

    public init() {}

    public static var greedy: SamplingParameters { var p = SamplingParameters(); p.temperature = 0; return p }
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
