import Foundation
import Inference
import Sessions

/// The statistics of the reply being generated (and, after it ends, of the last
/// reply), accumulated from TokenEvents on the UI thread.
struct LiveStats {
    var last: TokenStats? = nil
    var tokens = 0
    var ffnActiveSum = 0, ffnTotalSum = 0
    var flops = 0.0, flopsDense = 0.0
    var promptTokens = 0
    var prefillTPS = 0.0, decodeTPS = 0.0
    var ttftMs: Double? = nil
    var contextUsed = 0, contextLimit = 0
    var started: Date? = nil
    var firstTokenAt: Date? = nil
    var finished = false
    /// The drafter of this reply (nil: plain decoding) and its running counts.
    var speculative: String? = nil
    var speculativeProposed = 0, speculativeAccepted = 0, targetPasses = 0
    /// The reply comes from a remote endpoint: prompt processing and sparsity are the
    /// server's (shown as not available unless it sent them), token counts its usage.
    var remote = false
    /// The sequence state's bytes after the last reply: its KV cache (in the model's
    /// `--kv-cache` layout) and, for RecurrentGemma, the constant recurrent state.
    var kvCacheBytes = 0, recurrentStateBytes = 0

    init() {}

    init(promptTokens: Int, contextLimit: Int, started: Date) {
        self.promptTokens = promptTokens; self.contextLimit = contextLimit
        self.contextUsed = promptTokens; self.started = started
    }

    mutating func add(_ e: TokenEvent, at now: Date = Date()) {
        guard e.id >= 0 else { return }  // the decoder's tail flush is text, not a token
        tokens += 1
        last = e.stats
        ffnActiveSum += e.stats.ffnActive; ffnTotalSum += e.stats.ffnTotal
        flops += e.stats.flops; flopsDense += e.stats.flopsDense
        contextUsed = promptTokens + tokens
        if firstTokenAt == nil {
            firstTokenAt = now
            if let s = started {
                ttftMs = now.timeIntervalSince(s) * 1000
                prefillTPS = ttftMs! > 0 ? Double(promptTokens) / (ttftMs! / 1000) : 0
            }
        } else if let f = firstTokenAt, now > f {
            decodeTPS = Double(tokens - 1) / now.timeIntervalSince(f)
        }
    }

    /// Exact figures from the generator's summary replace the running estimates.
    mutating func finish(_ s: GenerationSummary, contextUsed used: Int) {
        finished = true
        // A remote stream's pieces need not be tokens; the server's usage counts are.
        if remote && s.generatedTokens > 0 { tokens = s.generatedTokens }
        promptTokens = s.promptTokens
        prefillTPS = s.prefillTPS
        if s.generatedTokens > 0 { decodeTPS = s.decodeTPS; ttftMs = s.timeToFirstToken * 1000 }
        contextUsed = used
        if !remote { kvCacheBytes = s.kvCacheBytes; recurrentStateBytes = s.recurrentStateBytes }
        if speculative != nil {
            speculativeProposed = s.speculativeProposed; speculativeAccepted = s.speculativeAccepted; targetPasses = s.targetPasses
        }
    }

    /// Fraction of drafted tokens the target accepted (nil before any draft).
    var speculativeAcceptance: Double? {
        speculative == nil || speculativeProposed == 0 ? nil : Double(speculativeAccepted) / Double(speculativeProposed)
    }

    /// Tokens generated per target forward pass (as `bench --speculative` counts them).
    var tokensPerTargetPass: Double? {
        speculative == nil || targetPasses == 0 ? nil : Double(tokens) / Double(targetPasses)
    }

    /// Sparsity figures exist: always for a local reply, for a remote one only when the
    /// server sent them (`sparkchat serve`'s x_sparkchat).
    var hasSparsityStats: Bool { !remote || ffnTotalSum > 0 }

    var meanActiveFFN: Double { ffnTotalSum == 0 ? 0 : Double(ffnActiveSum) / Double(ffnTotalSum) }

    var messageStats: MessageStats {
        var m = MessageStats()
        m.promptTokens = promptTokens; m.generatedTokens = tokens
        m.prefillTPS = prefillTPS; m.decodeTPS = decodeTPS; m.timeToFirstTokenMs = ttftMs ?? 0
        m.meanActiveFFN = meanActiveFFN; m.flops = flops; m.flopsDense = flopsDense
        m.speculativeAcceptance = speculativeAcceptance
        return m
    }
}
