import Foundation
import Inference

/// OpenAI's response shapes for one request: the non-streamed object, the stream's
/// chunks and the usage chunk, for chat and for text completions.
struct ResponseFormat {
    let endpoint: Endpoint
    let model: String
    let id: String
    let created: Int

    init(endpoint: Endpoint, model: String) {
        self.endpoint = endpoint
        self.model = model
        let hex = (0..<12).map { _ in String(UInt8.random(in: 0...15), radix: 16) }.joined()
        self.id = (endpoint == .chat ? "chatcmpl-" : "cmpl-") + hex
        self.created = Int(Date().timeIntervalSince1970)
    }

    /// OpenAI's two finish reasons: the reply ended (its turn, a stop text, or the loop
    /// guard cutting a repeat), or a limit cut it (max_tokens, the context).
    static func finishReason(_ stop: StopReason) -> String {
        switch stop {
        case .maxTokens, .contextFull: return "length"
        case .endOfTurn, .eos, .stopString, .loop, .cancelled: return "stop"
        }
    }

    /// The per-token statistics of the engine, under `x_sparkchat` in each chunk.
    static func tokenStats(_ t: TokenEvent) -> String {
        JSONText.object([
            ("token_id", String(t.id)), ("logprob", JSONText.number(Double(t.logprob))), ("ms", JSONText.number(t.ms)),
            ("ffn_active", String(t.stats.ffnActive)), ("ffn_total", String(t.stats.ffnTotal)),
            ("attended", String(t.stats.attended)),
            ("flops", JSONText.number(t.stats.flops)), ("flops_dense", JSONText.number(t.stats.flopsDense))
        ])
    }

    static func summaryStats(_ s: GenerationSummary, totals: TokenTotals) -> String {
        JSONText.object([
            ("prefill_tps", JSONText.number(s.prefillTPS)), ("decode_tps", JSONText.number(s.decodeTPS)),
            ("ttft_ms", JSONText.number(s.timeToFirstToken * 1000)), ("stop", JSONText.string(s.stopReason.rawValue)),
            ("ffn_active", String(totals.ffnActive)), ("ffn_total", String(totals.ffnTotal)),
            ("flops", JSONText.number(totals.flops)), ("flops_dense", JSONText.number(totals.flopsDense))
        ])
    }

    static func usage(_ s: GenerationSummary) -> String {
        JSONText.object([
            ("prompt_tokens", String(s.promptTokens)), ("completion_tokens", String(s.generatedTokens)),
            ("total_tokens", String(s.promptTokens + s.generatedTokens))
        ])
    }

    private func envelope(object: String, choices: String, extra: [(String, String)]) -> String {
        JSONText.object(
            [
                ("id", JSONText.string(id)), ("object", JSONText.string(object)), ("created", String(created)),
                ("model", JSONText.string(model)), ("choices", choices)
            ] + extra)
    }

    private var chunkObject: String { endpoint == .chat ? "chat.completion.chunk" : "text_completion" }

    /// One streamed choice: a delta (chat) or a text piece (completions).
    private func streamChoice(text: String?, role: Bool = false, finish: String?) -> String {
        let finishJSON = finish.map(JSONText.string) ?? "null"
        switch endpoint {
        case .chat:
            var delta: [(String, String)] = []
            if role { delta.append(("role", JSONText.string("assistant"))) }
            if let text { delta.append(("content", JSONText.string(text))) }
            return JSONText.array([
                JSONText.object([
                    ("index", "0"), ("delta", JSONText.object(delta)),
                    ("logprobs", "null"), ("finish_reason", finishJSON)
                ])
            ])
        case .completion:
            return JSONText.array([
                JSONText.object([
                    ("index", "0"), ("text", JSONText.string(text ?? "")),
                    ("logprobs", "null"), ("finish_reason", finishJSON)
                ])
            ])
        }
    }

    /// The first chat chunk names the role, as OpenAI's does; completions have none.
    func roleChunk() -> String? {
        endpoint == .chat ? envelope(object: chunkObject, choices: streamChoice(text: "", role: true, finish: nil), extra: []) : nil
    }

    func tokenChunk(_ t: TokenEvent) -> String {
        envelope(
            object: chunkObject, choices: streamChoice(text: t.text, finish: nil),
            extra: [("x_sparkchat", ResponseFormat.tokenStats(t))])
    }

    func finalChunk(_ s: GenerationSummary, totals: TokenTotals) -> String {
        envelope(
            object: chunkObject, choices: streamChoice(text: nil, finish: ResponseFormat.finishReason(s.stopReason)),
            extra: [("x_sparkchat", ResponseFormat.summaryStats(s, totals: totals))])
    }

    /// stream_options.include_usage: one more chunk with no choices and the usage.
    func usageChunk(_ s: GenerationSummary) -> String {
        envelope(object: chunkObject, choices: "[]", extra: [("usage", ResponseFormat.usage(s))])
    }

    /// The whole reply at once (stream: false).
    func complete(text: String, summary s: GenerationSummary, totals: TokenTotals) -> String {
        let finish = JSONText.string(ResponseFormat.finishReason(s.stopReason))
        let choice: String
        switch endpoint {
        case .chat:
            choice = JSONText.object([
                ("index", "0"),
                (
                    "message",
                    JSONText.object([
                        ("role", JSONText.string("assistant")), ("content", JSONText.string(text))
                    ])
                ),
                ("logprobs", "null"), ("finish_reason", finish)
            ])
        case .completion:
            choice = JSONText.object([
                ("index", "0"), ("text", JSONText.string(text)), ("logprobs", "null"),
                ("finish_reason", finish)
            ])
        }
        return envelope(
            object: endpoint == .chat ? "chat.completion" : "text_completion", choices: JSONText.array([choice]),
            extra: [("usage", ResponseFormat.usage(s)), ("x_sparkchat", ResponseFormat.summaryStats(s, totals: totals))])
    }
}

/// Sums of the per-token statistics of one reply (its summary's sparsity figures).
struct TokenTotals {
    var ffnActive = 0, ffnTotal = 0
    var flops = 0.0, flopsDense = 0.0
    mutating func add(_ s: TokenStats) {
        ffnActive += s.ffnActive; ffnTotal += s.ffnTotal; flops += s.flops; flopsDense += s.flopsDense
    }
}
