import ArgumentParser
import Inference

/// The sampling flags `generate` and `chat` share: each one given overrides the
/// command's defaults (the chat's, or raw generation's), checked by the same rules as
/// config.json and session files (SettingsValidation).
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Temperature, 0 = greedy (default 0.7 in a chat, 0.8 for raw generate).") var temperature: Double?
    @Option(name: .long, help: "Top-k, 0 = off (default 64).") var topK: Int?
    @Option(name: .long, help: "Top-p, 1 = off (default 0.95).") var topP: Double?
    @Option(name: .long, help: "Min-p, 0 = off (default 0).") var minP: Double?
    @Option(name: .long, help: "Multiplicative repetition penalty, 1 = off (default 1).") var repeatPenalty: Double?
    @Option(name: .long, help: "Presence penalty, 0 = off (default 0).") var presencePenalty: Double?
    @Option(name: .long, help: "Frequency penalty, 0 = off (default 0).") var frequencyPenalty: Double?
    @Option(name: .long, help: "DRY repetition penalty multiplier, 0 = off (default 0.8 in a chat, 0 for raw generate).")
    var dryMultiplier: Double?
    @Flag(inversion: .prefixedNo, help: "End a reply caught in a verbatim loop (default: on in a chat).") var loopGuard: Bool?
    @Option(name: .long, help: "Maximum tokens per reply (default 1024 in a chat, 256 for raw generate).") var maxTokens: Int?
    @Option(name: .long, help: "Random seed.") var seed: UInt64?
    @Option(name: .long, help: "A text that ends the reply (not shown); repeatable.") var stop: [String] = []

    func validate() throws {
        // 0 tokens is allowed here (generate reads a prompt without a reply); chat refuses it.
        if let v = maxTokens, v != 0 { try SettingsValidation.require("--max-tokens", SettingsValidation.maxTokens(v)) }
        if let v = temperature { try SettingsValidation.require("--temperature", SettingsValidation.temperature(v)) }
        if let v = topK { try SettingsValidation.require("--top-k", SettingsValidation.topK(v)) }
        if let v = topP { try SettingsValidation.require("--top-p", SettingsValidation.topP(v)) }
        if let v = minP { try SettingsValidation.require("--min-p", SettingsValidation.minP(v)) }
        if let v = repeatPenalty { try SettingsValidation.require("--repeat-penalty", SettingsValidation.repetitionPenalty(v)) }
        for (name, v) in [("--presence-penalty", presencePenalty), ("--frequency-penalty", frequencyPenalty)] {
            if let v, !(v.isFinite && abs(v) <= 100) { throw ValidationError("\(name) must be between -100 and 100") }
        }
        if let v = dryMultiplier, !(v >= 0 && v.isFinite && v <= 100) { throw ValidationError("--dry-multiplier must be between 0 and 100") }
        if stop.contains(where: \.isEmpty) { throw ValidationError("--stop must not be empty") }
    }

    var overrides: SamplingOverrides {
        var o = SamplingOverrides()
        o.temperature = temperature; o.topK = topK; o.topP = topP; o.minP = minP
        o.repetitionPenalty = repeatPenalty; o.presencePenalty = presencePenalty; o.frequencyPenalty = frequencyPenalty
        o.dryMultiplier = dryMultiplier; o.loopGuard = loopGuard; o.maxTokens = maxTokens; o.seed = seed
        o.stop = stop
        return o
    }
}
