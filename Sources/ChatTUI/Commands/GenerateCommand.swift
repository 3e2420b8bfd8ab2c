import ArgumentParser
import Foundation
import Inference
import Serve

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
    @OptionGroup var sampling: SamplingOptions
    @Option(name: .long, help: "Prompt text (raw unless --chat); - or none with piped input: read stdin.") var prompt: String?
    @Flag(name: .long, help: "Wrap the prompt in the model's chat format; chat defaults apply.") var chat = false
    @Option(name: .long, help: "System prompt (with --chat).") var system: String?
    @Option(name: .long, help: "Chat format (with --chat): \(ChatFormats.usage).") var format: String?
    @Option(name: .long, help: OptionHelp.sparsity) var sparsity: SparsityMode = .off
    @Option(name: .long, help: OptionHelp.speculative) var speculative: SpeculativeMode?
    @Option(name: .long, help: OptionHelp.kvCache) var kvCache: KVCacheType = .f32
    @Option(name: .long, help: "A cushion file (sparkchat cushion): its prefix is prefilled before the prompt, never shown or counted.")
    var cushion: String?
    @Flag(name: .long, help: "One JSON object per token, then a summary object.") var json = false

    func validate() throws {
        try ArgumentCheck.requireUTF8Arguments()
        if prompt?.isEmpty == true { throw ValidationError("--prompt is empty") }
        if format != nil && !chat { throw ValidationError("--format needs --chat") }
        // A model drafter must be a model file (the rule session files and config.json follow).
        if let v = speculative { try SettingsValidation.require("--speculative", SettingsValidation.speculative(v.description, trusted: true)) }
    }

    /// Raw defaults unless --chat; then every flag given wins over them.
    func parameters() -> SamplingParameters {
        var defaults = chat ? ChatDefaults.parameters() : SamplingParameters()
        if !chat { defaults.maxTokens = 256 }
        return sampling.overrides.applied(to: defaults)
    }

    func run() throws {
        let text = try PromptInput.read(prompt)
        if let m = options.model, let r = RemoteModels.reference(m, endpoints: RemoteModels.endpoints(AppConfig.load().0)) {
            if cushion != nil { throw ValidationError("--cushion needs a local model") }
            try RemoteGenerate(endpoint: r.endpoint, modelID: r.id, command: self).run(prompt: text)
            return
        }
        let loaded = try options.load()
        try loaded.useKVCache(kvCache)
        let generator = Generator(model: loaded)
        generator.sparsity = sparsity
        generator.speculative = speculative ?? .off
        var params = parameters()
        let rendered: String
        if chat {
            try ChatFormats.apply(format ?? AppConfig.load().0.format(for: loaded.info), to: loaded)
            params.stop = ChatFormats.stops(loaded.chatFormat, extra: sampling.stop + (AppConfig.load().0.stop ?? []))
            var messages: [ChatMessage] = []
            if let s = system { messages.append(ChatMessage(role: .system, text: s)) }
            messages.append(ChatMessage(role: .user, text: text))
            rendered = loaded.chatPrompt(messages)
        } else {
            rendered = text
        }
        let prompt = loaded.tokenizer.encode(rendered, addBOS: true)
        let cushionFile = try cushion.map { try CushionFile.read($0, vocabularySize: loaded.config.vocabularySize, bos: loaded.tokenizer.bosId) }
        let cushionIds = cushionFile?.prefixIds ?? []
        let tokens = cushionFile?.prefixing(prompt, bos: loaded.tokenizer.bosId) ?? prompt
        try generator.generate(tokens: tokens, parameters: params) { event in
            switch event {
            case .token(let t):
                if json {
                    guard t.id >= 0 else { return }  // trailing partial UTF-8 flush: text only
                    emit(
                        JSONText.object([
                            ("id", String(t.id)), ("text", JSONText.string(t.text)), ("logprob", JSONText.number(Double(t.logprob))),
                            ("ms", JSONText.number(t.ms)), ("ffn_active", String(t.stats.ffnActive)),
                            ("ffn_total", String(t.stats.ffnTotal)), ("attended", String(t.stats.attended)),
                            ("flops", JSONText.number(t.stats.flops)), ("flops_dense", JSONText.number(t.stats.flopsDense))
                        ]))
                } else {
                    emit(t.text, newline: false)
                }
            case .done(let s):
                if json {
                    emit(
                        JSONText.object(
                            [
                                ("done", "true"), ("prompt_tokens", String(s.promptTokens - tokens.count + prompt.count)),
                                ("generated_tokens", String(s.generatedTokens)),
                                ("prefill_tps", JSONText.number(s.prefillTPS)), ("decode_tps", JSONText.number(s.decodeTPS)),
                                ("ttft_ms", JSONText.number(s.timeToFirstToken * 1000)), ("stop", JSONText.string(s.stopReason.rawValue)),
                                ("format", chat ? JSONText.string(loaded.chatFormat.name) : "null"),
                                ("kv_cache", JSONText.string(kvCache.rawValue)), ("kv_bytes", String(s.kvCacheBytes)),
                                ("recurrent_state_bytes", String(s.recurrentStateBytes))
                            ]
                                + (cushionIds.isEmpty ? [] : [("cushion_tokens", String(cushionIds.count))])
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
