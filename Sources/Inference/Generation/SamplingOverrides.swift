/// What a caller asked for on top of a command's defaults: a flag, a request field or a
/// config value that was given. `nil` keeps the default. One type for the command line,
/// the server's request bodies and the chat, so each applies them the same way.
public struct SamplingOverrides: Sendable, Equatable {
    public var temperature: Double?
    public var topK: Int?
    public var topP: Double?
    public var minP: Double?
    public var repetitionPenalty: Double?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var dryMultiplier: Double?
    public var loopGuard: Bool?
    public var maxTokens: Int?
    public var seed: UInt64?
    /// Added to the defaults' stop strings (a chat format's turn markers stay).
    public var stop: [String] = []

    public init() {}

    public func applied(to defaults: SamplingParameters) -> SamplingParameters {
        var p = defaults
        if let v = temperature { p.temperature = v }
        if let v = topK { p.topK = v }
        if let v = topP { p.topP = v }
        if let v = minP { p.minP = v }
        if let v = repetitionPenalty { p.repetitionPenalty = v }
        if let v = presencePenalty { p.presencePenalty = v }
        if let v = frequencyPenalty { p.frequencyPenalty = v }
        if let v = dryMultiplier { p.dryMultiplier = v }
        if let v = loopGuard { p.loopGuard = v }
        if let v = maxTokens { p.maxTokens = v }
        if let v = seed { p.seed = v }
        for s in stop where !p.stop.contains(s) { p.stop.append(s) }
        return p
    }
}
