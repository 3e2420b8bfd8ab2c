import Inference

/// What a chat reply gets without any flag: the same in the TUI and in
/// `generate --chat`, so a user's first reply ends by itself and does not loop.
/// Raw `generate` (no --chat) keeps the plain sampler: greedy parity with llama.cpp
/// depends on it.
enum ChatDefaults {
    static let temperature = 0.7
    static let topK = 64
    static let topP = 0.95
    /// Replies of a chat are a few sentences to a page; 1024 bounds a runaway one.
    static let maxTokens = 1024
    /// DRY (see LogitPenalties): penalises extending a verbatim repeat of more than
    /// `dryAllowedLength` tokens, which is how small models loop. Values chosen by
    /// scripts/chat-eval on the default model (docs/chat-eval.md).
    static let dryMultiplier = 0.8
    static let dryBase = 1.75
    static let dryAllowedLength = 2

    /// Chat parameters: defaults, then whatever the caller set explicitly.
    static func parameters() -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature; p.topK = topK; p.topP = topP; p.maxTokens = maxTokens
        p.dryMultiplier = dryMultiplier; p.dryBase = dryBase; p.dryAllowedLength = dryAllowedLength
        p.loopGuard = true
        return p
    }
}
