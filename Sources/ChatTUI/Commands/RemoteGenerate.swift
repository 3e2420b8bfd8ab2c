import ArgumentParser
import Foundation
import Inference
import Remote
import Serve

/// `generate --model ENDPOINT/MODEL_ID`: the same output as a local model, streamed from an
/// OpenAI-compatible endpoint. `--chat` sends chat messages (the server applies its
/// template), without it the prompt goes raw to `/completions`. What a remote engine does
/// not report (token ids, log-probabilities, sparsity unless the server is `sparkchat
/// serve`, prompt speed) is null.
struct RemoteGenerate {
    let endpoint: RemoteEndpoint
    let modelID: String
    let command: GenerateCommand

    var name: String { "\(endpoint.name)/\(modelID)" }

    func request(_ text: String) throws -> CompletionRequest {
        let c = command
        if c.sparsity != .off || c.speculative != nil || c.format != nil {
            throw ValidationError("--sparsity, --speculative and --format apply to local models; \(name) is remote")
        }
        var r: CompletionRequest
        if c.chat {
            var messages: [(role: String, content: String)] = []
            if let s = c.system { messages.append(("system", s)) }
            messages.append(("user", text))
            r = CompletionRequest(model: modelID, input: .chat(messages))
        } else {
            if c.system != nil { throw ValidationError("--system needs --chat") }
            r = CompletionRequest(model: modelID, input: .prompt(text))
        }
        let p = c.parameters()
        r.temperature = p.temperature; r.topP = p.topP; r.maxTokens = p.maxTokens; r.seed = p.seed
        r.topK = c.sampling.topK  // only when asked: OpenAI itself refuses top_k
        r.stop = c.sampling.stop + (c.chat ? AppConfig.load().0.stop ?? [] : [])
        return r
    }

    func run(prompt text: String) throws {
        let r = try request(text)
        let meter = RemoteStreamMeter()
        var printed = false
        let outcome: StreamOutcome
        do {
            outcome = try RemoteClient.stream(endpoint, r) { e in
                guard let t = meter.take(e) else { return }
                printed = true
                if command.json {
                    let s = t.stats, has = s.ffnTotal > 0
                    emit(
                        JSONText.object([
                            ("id", "null"), ("text", JSONText.string(t.text)), ("logprob", "null"), ("ms", JSONText.number(t.ms)),
                            ("ffn_active", has ? String(s.ffnActive) : "null"), ("ffn_total", has ? String(s.ffnTotal) : "null"),
                            ("attended", has ? String(s.attended) : "null"),
                            ("flops", has ? JSONText.number(s.flops) : "null"), ("flops_dense", has ? JSONText.number(s.flopsDense) : "null")
                        ]))
                } else {
                    emit(t.text, newline: false)
                }
            }
        } catch {
            // What came is on stdout already; the error goes on its own line.
            if printed && !command.json { emit("") }
            throw RemoteModelError(description: "\(name): \(error)")
        }
        let s = meter.summary(outcome)
        if command.json {
            emit(
                JSONText.object([
                    ("done", "true"), ("prompt_tokens", meter.usage.map { String($0.prompt) } ?? "null"),
                    ("generated_tokens", String(s.generatedTokens)), ("prefill_tps", "null"),
                    ("decode_tps", s.decodeSeconds > 0 ? JSONText.number(s.decodeTPS) : "null"),
                    ("ttft_ms", meter.firstAt == nil ? "null" : JSONText.number(s.timeToFirstToken * 1000)),
                    ("stop", JSONText.string(s.stopReason.rawValue)), ("format", "null"), ("model", JSONText.string(name))
                ]))
        } else {
            emit("")
        }
    }
}
