import Foundation

/// The sampling settings a conversation was using, stored so that reopening it
/// continues with the same behaviour. Strings use the CLI syntax of docs/ARCHITECTURE.md §2.
public struct SamplingSettings: Codable, Equatable, Sendable {
    public var temperature: Double = 0.7
    public var topK: Int = 64
    public var topP: Double = 0.95
    public var minP: Double = 0
    public var repetitionPenalty: Double = 1
    public var seed: UInt64? = nil
    public var maxTokens: Int = 1024
    /// "off" or e.g. "stat-topk:0.08".
    public var sparsity: String = "off"
    public var speculative: String? = nil

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case temperature, topK, topP, minP, repetitionPenalty, seed, maxTokens, sparsity, speculative
    }

    /// Every field is optional in the file: a missing one keeps its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SamplingSettings()
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? d.temperature
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? d.topK
        topP = try c.decodeIfPresent(Double.self, forKey: .topP) ?? d.topP
        minP = try c.decodeIfPresent(Double.self, forKey: .minP) ?? d.minP
        repetitionPenalty = try c.decodeIfPresent(Double.self, forKey: .repetitionPenalty) ?? d.repetitionPenalty
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? d.maxTokens
        sparsity = try c.decodeIfPresent(String.self, forKey: .sparsity) ?? d.sparsity
        speculative = try c.decodeIfPresent(String.self, forKey: .speculative)
    }
}
