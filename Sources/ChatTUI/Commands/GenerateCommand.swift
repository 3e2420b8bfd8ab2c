import ArgumentParser
import Foundation
import Inference

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text from a prompt (headless).",
        discussion: """
            Without --chat the prompt is raw text and sampling is exactly what the flags say \
            (defaults: temperature 0.8, top-k 64, top-p 0.95, 256 tokens, no penalties). \
            With --chat the prompt is a user message in the model's chat format and the chat's \
            defaults apply (temperature 0.7, 1024 tokens, DRY repetition penalty, loop guard); \
            the reply ends at the end of its turn. The prompt may come from stdin: \
            `echo question | sparkchat generate --chat` or `--prompt -`.
            """)

    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Prompt text (raw unless --chat); - or none with piped input: read stdin.") var prompt: String?
    @Flag(name: .long, help: "Wrap the prompt in the model's chat format; chat defaults apply.") var chat = false
    @Option(name: .long, help: "System prompt (with --chat).") var system: String?
    @Option(name: .long, help: "Chat format (with --chat): \(ChatFormats.usage).") var format: String?
    @Option(name: .long, help: "A text that ends the reply (not shown); repeatable.") var stop: [String] = []
    @Option(name: .long, help: "Maximum tokens to generate (default 256; 1024 with --chat).") var maxTokens: Int?
    @Option(name: .long, help: "Temperature, 0 = greedy (default 0.8; 0.7 with --chat).") var temperature: Double?
    @Option(name: .long, help: "Top-k, 0 = off (default 64).") var topK: Int?
    @Option(name: .long, help: "Top-p, 1 = off (default 0.95).") var topP: Double?
    @Option(name: .long, help: "Min-p, 0 = off (default 0).") var minP: Double?
    @Option(name: .long, help: "Multiplicative repetition penalty, 1 = off (default 1).") var repeatPenalty: Double?
    @Option(name: .long, help: "Presence penalty, 0 = off (default 0).") var presencePenalty: Double?
    @Option(name: .long, help: "Frequency penalty, 0 = off (default 0).") var frequencyPenalty: Double?
    @Option(name: .long, help: "DRY repetition penalty multiplier, 0 = off (default 0; 0.8 with --chat).") var dryMultiplier: Double?
    @Flag(inversion: .prefixedNo, help: "End a reply caught in a verbatim loop (default: on with --chat).") var loopGuard: Bool?
    @Option(name: .long, help: "Random seed.") var seed: UInt64?
    @Option(name: .long, help: "off or stat-topk:F (fraction of FFN neurons kept).") var sparsity = "off"
    @Option(name: .long, help: "Speculative decoding: off, slice[:V], lookup[:N], sparse:F or model:PATH (optionally @γ).") var speculative: String?
    @Flag(name: .long, help: "One JSON object per token, then a summary object.") var json = false

    func validate() throws {
        try ArgumentCheck.requireUTF8Arguments()
        if prompt?.isEmpty == true { throw ValidationError("--prompt is empty") }
        // The rules the chat, config.json and session files use (SettingsValidation); 0 tokens
        // is allowed here only (a prompt read without a reply).
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
        if format != nil && !chat { throw ValidationError("--format needs --chat") }
        try SettingsValidation.require("--sparsity", SettingsValidation.sparsity(sparsity))
        if let v = speculative { try SettingsValidation.require("--speculative", SettingsValidation.speculative(v, trusted: true)) }
    }

    /// Raw defaults unless --chat; then every flag given wins over them.
    func parameters() -> SamplingParameters {
        var p = chat ? ChatDefaults.parameters() : SamplingParameters()
        if !chat { p.maxTokens = 256 }
        if let v = temperature { p.temperature = v }
        if let v = topK { p.topK = v }
        if let v = topP { p.topP = v }
        if let v = minP { p.minP = v }
        if let v = repeatPenalty { p.repetitionPenalty = v }
        if let v = presencePenalty { p.presencePenalty = v }
        if let v = frequencyPenalty { p.frequencyPenalty = v }
        if let v = dryMultiplier { p.dryMultiplier = v }
        if let v = loopGuard { p.loopGuard = v }
        if let v = maxTokens { p.maxTokens = v }
        p.seed = seed
        p.stop = stop
        return p
    }

    func run() throws {
        let text = try PromptInput.read(prompt)
        if let m = options.model, let r = RemoteModels.reference(m, endpoints: RemoteModels.endpoints(AppConfig.load().0)) {
            try RemoteGenerate(endpoint: r.endpoint, modelID: r.id, command: self).run(prompt: text)
            return
        }
        let loaded = try options.load()
        let generator = Generator(model: loaded)
        generator.sparsity = SparsityMode(argument: sparsity)!
        generator.speculative = speculative.flatMap { SpeculativeMode(argument: $0) } ?? .off
        var params = parameters()
        let rendered: String
        if chat {
            try ChatFormats.apply(format ?? AppConfig.load().0.format(for: loaded.info), to: loaded)
            params.stop = ChatFormats.stops(loaded.chatFormat, extra: stop + (AppConfig.load().0.stop ?? []))
            var messages: [ChatMessage] = []
            if let s = system { messages.append(ChatMessage(role: .system, text: s)) }
            messages.append(ChatMessage(role: .user, text: text))
            rendered = loaded.chatPrompt(messages)
        } else {
            rendered = text
        }
        let tokens = loaded.tokenizer.encode(rendered, addBOS: true)
        try generator.generate(tokens: tokens, parameters: params) { event in
            switch event {
            case .token(let t):
                if json {
                    guard t.id >= 0 else { return }  // trailing partial UTF-8 flush: text only
                    emit(
                        JSON.object([
                            ("id", String(t.id)), ("text", JSON.string(t.text)), ("logprob", JSON.number(Double(t.logprob))),
                            ("ms", JSON.number(t.ms)), ("ffn_active", String(t.stats.ffnActive)),
                            ("ffn_total", String(t.stats.ffnTotal)), ("attended", String(t.stats.attended)),
                            ("flops", JSON.number(t.stats.flops)), ("flops_dense", JSON.number(t.stats.flopsDense))
                        ]))
                } else {
                    emit(t.text, newline: false)
                }
            case .done(let s):
                if json {
                    emit(
                        JSON.object(
                            [
                                ("done", "true"), ("prompt_tokens", String(s.promptTokens)),
                                ("generated_tokens", String(s.generatedTokens)),
                                ("prefill_tps", JSON.number(s.prefillTPS)), ("decode_tps", JSON.number(s.decodeTPS)),
                                ("ttft_ms", JSON.number(s.timeToFirstToken * 1000)), ("stop", JSON.string(s.stopReason.rawValue)),
                                ("format", chat ? JSON.string(loaded.chatFormat.name) : "null")
                            ]
                                + (s.targetPasses > 0
                                    ? [
                                        ("draft_proposed", String(s.speculativeProposed)), ("draft_accepted", String(s.speculativeAccepted)),
                                        ("target_passes", String(s.targetPasses))
                                    ] : [])))
                } else {
                    emit("")
                    if s.stopReason == .loop {
                        FileHandle.standardError.write("sparkchat: stopped a reply that was repeating itself\n".data(using: .utf8)!)
                    }
                }
            }
        }
    }
}

/// The prompt of a headless command: the --prompt text, or stdin for `-` or when
/// --prompt is absent and input is piped (`echo question | sparkchat generate --chat`).
enum PromptInput {
    /// A prompt is text a person wrote or a file a script piped; 64 MB is far past
    /// any context and keeps a runaway pipe from filling memory.
    static let maxBytes = 64 << 20

    static func read(_ prompt: String?) throws -> String {
        if let p = prompt, p != "-" { return p }
        if prompt == nil && isatty(STDIN_FILENO) != 0 {
            throw ValidationError("give --prompt TEXT, or pipe the prompt on stdin")
        }
        var data = Data()
        while true {
            let chunk = FileHandle.standardInput.readData(ofLength: 1 << 16)
            if chunk.isEmpty { break }
            data.append(chunk)
            if data.count > maxBytes { throw ValidationError("the prompt on stdin is over \(maxBytes >> 20) MB") }
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("the prompt on stdin is not valid UTF-8 text") }
        // A piped line ends with a newline that is not part of the question.
        let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard !trimmed.isEmpty else { throw ValidationError("the prompt on stdin is empty") }
        return trimmed
    }
}
