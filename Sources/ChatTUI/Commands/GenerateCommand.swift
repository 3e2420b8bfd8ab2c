import ArgumentParser
import Foundation
import Inference

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate text from a prompt (headless).")

    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Prompt text (raw unless --chat).") var prompt: String
    @Flag(name: .long, help: "Wrap the prompt in the model's chat template.") var chat = false
    @Option(name: .long, help: "System prompt (with --chat).") var system: String?
    @Option(name: .long, help: "Maximum tokens to generate.") var maxTokens = 256
    @Option(name: .long, help: "Temperature (0 = greedy).") var temperature = 0.8
    @Option(name: .long, help: "Top-k (0 = off).") var topK = 64
    @Option(name: .long, help: "Top-p (1 = off).") var topP = 0.95
    @Option(name: .long, help: "Min-p (0 = off).") var minP = 0.0
    @Option(name: .long, help: "Repetition penalty (1 = off).") var repeatPenalty = 1.0
    @Option(name: .long, help: "Random seed.") var seed: UInt64?
    @Option(name: .long, help: "off or stat-topk:F (fraction of FFN neurons kept).") var sparsity = "off"
    @Option(name: .long, help: "Speculative decoding: off, slice[:V], lookup[:N], sparse:F or model:PATH (optionally @γ).") var speculative: String?
    @Flag(name: .long, help: "One JSON object per token, then a summary object.") var json = false

    func validate() throws {
        try ArgumentCheck.requireUTF8Arguments()
        if prompt.isEmpty { throw ValidationError("--prompt is empty") }
        if maxTokens < 0 { throw ValidationError("--max-tokens must be >= 0") }
        if temperature < 0 || !temperature.isFinite { throw ValidationError("--temperature must be >= 0") }
        if topK < 0 { throw ValidationError("--top-k must be >= 0") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if !(minP >= 0 && minP < 1) { throw ValidationError("--min-p must be in [0, 1)") }
        if repeatPenalty <= 0 { throw ValidationError("--repeat-penalty must be > 0") }
        if SparsityMode(argument: sparsity) == nil { throw ValidationError("--sparsity must be off or stat-topk:F with F in (0, 1]") }
        if let s = speculative, SpeculativeMode(argument: s) == nil {
            throw ValidationError("--speculative must be off, slice[:V], lookup[:N], sparse:F or model:PATH (optionally @γ)")
        }
    }

    func run() throws {
        let loaded = try options.load()
        let generator = Generator(model: loaded)
        generator.sparsity = SparsityMode(argument: sparsity)!
        generator.speculative = speculative.flatMap { SpeculativeMode(argument: $0) } ?? .off
        var params = SamplingParameters()
        params.temperature = temperature; params.topK = topK; params.topP = topP; params.minP = minP
        params.repetitionPenalty = repeatPenalty; params.seed = seed; params.maxTokens = maxTokens
        let text: String
        if chat {
            var messages: [ChatMessage] = []
            if let s = system { messages.append(ChatMessage(role: .system, text: s)) }
            messages.append(ChatMessage(role: .user, text: prompt))
            text = loaded.chatPrompt(messages)
        } else {
            text = prompt
        }
        let tokens = loaded.tokenizer.encode(text, addBOS: true)
        try generator.generate(tokens: tokens, parameters: params) { event in
            switch event {
            case .token(let t):
                if json {
                    guard t.id >= 0 else { return } // trailing partial UTF-8 flush: text only
                    emit(JSON.object([
                        ("id", String(t.id)), ("text", JSON.string(t.text)), ("logprob", JSON.number(Double(t.logprob))),
                        ("ms", JSON.number(t.ms)), ("ffn_active", String(t.stats.ffnActive)),
                        ("ffn_total", String(t.stats.ffnTotal)), ("attended", String(t.stats.attended)),
                        ("flops", JSON.number(t.stats.flops)), ("flops_dense", JSON.number(t.stats.flopsDense)),
                    ]))
                } else {
                    emit(t.text, newline: false)
                }
            case .done(let s):
                if json {
                    emit(JSON.object([
                        ("done", "true"), ("prompt_tokens", String(s.promptTokens)),
                        ("generated_tokens", String(s.generatedTokens)),
                        ("prefill_tps", JSON.number(s.prefillTPS)), ("decode_tps", JSON.number(s.decodeTPS)),
                        ("ttft_ms", JSON.number(s.timeToFirstToken * 1000)), ("stop", JSON.string(s.stopReason.rawValue)),
                    ] + (s.targetPasses > 0 ? [
                        ("draft_proposed", String(s.speculativeProposed)), ("draft_accepted", String(s.speculativeAccepted)),
                        ("target_passes", String(s.targetPasses)),
                    ] : [])))
                } else {
                    emit("")
                }
            }
        }
    }
}
