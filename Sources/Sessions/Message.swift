import Foundation

/// Who wrote a message.
public enum Role: String, Codable, Sendable {
    case system, user, assistant
}

/// What the engine measured while writing one reply. Sessions only stores and shows
/// these numbers; it never computes them.
public struct MessageStats: Codable, Equatable, Sendable {
    public var promptTokens: Int
    public var generatedTokens: Int
    public var prefillTPS: Double
    public var decodeTPS: Double
    public var timeToFirstTokenMs: Double
    /// Fraction 0...1 of FFN neurons active, mean over tokens and layers.
    public var meanActiveFFN: Double
    /// Total FLOPs for the reply as computed, and what a dense forward pass would have cost.
    public var flops: Double
    public var flopsDense: Double
    /// Fraction of drafted tokens accepted; nil when not speculating.
    public var speculativeAcceptance: Double?

    public init(
        promptTokens: Int = 0, generatedTokens: Int = 0, prefillTPS: Double = 0, decodeTPS: Double = 0,
        timeToFirstTokenMs: Double = 0, meanActiveFFN: Double = 0, flops: Double = 0, flopsDense: Double = 0,
        speculativeAcceptance: Double? = nil
    ) {
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.prefillTPS = prefillTPS
        self.decodeTPS = decodeTPS
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.meanActiveFFN = meanActiveFFN
        self.flops = flops
        self.flopsDense = flopsDense
        self.speculativeAcceptance = speculativeAcceptance
    }

    private enum CodingKeys: String, CodingKey {
        case promptTokens, generatedTokens, prefillTPS, decodeTPS, timeToFirstTokenMs, meanActiveFFN, flops, flopsDense,
            speculativeAcceptance
    }

    /// Missing numbers read as 0 so that files from older builds (fewer stats) still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        promptTokens = try c.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
        generatedTokens = try c.decodeIfPresent(Int.self, forKey: .generatedTokens) ?? 0
        prefillTPS = try c.decodeIfPresent(Double.self, forKey: .prefillTPS) ?? 0
        decodeTPS = try c.decodeIfPresent(Double.self, forKey: .decodeTPS) ?? 0
        timeToFirstTokenMs = try c.decodeIfPresent(Double.self, forKey: .timeToFirstTokenMs) ?? 0
        meanActiveFFN = try c.decodeIfPresent(Double.self, forKey: .meanActiveFFN) ?? 0
        flops = try c.decodeIfPresent(Double.self, forKey: .flops) ?? 0
        flopsDense = try c.decodeIfPresent(Double.self, forKey: .flopsDense) ?? 0
        speculativeAcceptance = try c.decodeIfPresent(Double.self, forKey: .speculativeAcceptance)
    }
}

/// One turn of a conversation.
public struct Message: Codable, Equatable, Sendable, Identifiable {
    public var id: UUID
    public var role: Role
    public var text: String
    /// Catalog name of the model that wrote it (assistant messages), otherwise nil.
    public var model: String?
    public var time: Date
    public var stats: MessageStats?
    /// The reply was stopped by the user (Esc) or cut short by a crash mid-stream.
    public var interrupted: Bool

    public init(
        role: Role, text: String, model: String? = nil, time: Date = Date(), stats: MessageStats? = nil,
        interrupted: Bool = false
    ) {
        self.id = UUID()
        self.role = role
        self.text = text
        self.model = model
        self.time = time
        self.stats = stats
        self.interrupted = interrupted
    }

    private enum CodingKeys: String, CodingKey { case id, role, text, model, time, stats, interrupted }

    /// `role`, `text` and `time` are required; the rest default, so hand-written files load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(UUID.self, forKey: .id) ?? UUID()
        role = try c.decode(Role.self, forKey: .role)
        text = try c.decode(String.self, forKey: .text)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        time = try c.decode(Date.self, forKey: .time)
        stats = try c.decodeIfPresent(MessageStats.self, forKey: .stats)
        interrupted = try c.decodeIfPresent(Bool.self, forKey: .interrupted) ?? false
    }
}
