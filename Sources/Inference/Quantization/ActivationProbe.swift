import Foundation

/// Runs text through a dense Gemma model with a tap on its linear-layer inputs, in float
/// arithmetic (every product through dequantized weights and sgemm, whatever the row
/// count), so what is measured or quantized is the activations alone.
public enum ActivationProbe {
    static func gemma(_ loaded: LoadedModel, for purpose: String) throws -> GemmaModel {
        guard let g = loaded.model as? GemmaModel, g.sparkified == nil else {
            throw EngineError.unsupported("\(purpose) needs a dense Gemma 1/2/3 model, not \(loaded.info.architecture)")
        }
        return g
    }

    /// Float arithmetic for every product (short prefixes included).
    static func floatOptions(_ options: RuntimeOptions) -> RuntimeOptions {
        var o = options
        o.sgemmMinimumRows = 1
        return o
    }

    /// Runs `prefix` untapped (full precision, as a cached prefix is computed once), then
    /// `tokens` with `tap` on every linear input; returns the logits of `rows` of `tokens`.
    static func run(
        _ g: GemmaModel, prefix: [Int], tokens: [Int], rows: [Int], tap: LinearInputTap?, state: ModelState
    ) throws -> [Float] {
        defer { g.linear.inputTap = nil }
        g.linear.inputTap = nil
        if !prefix.isEmpty { _ = try g.forward(prefix, state: state, logitRows: [], sparsity: .off, stats: nil) }
        g.linear.inputTap = tap
        return try g.forward(tokens, state: state, logitRows: rows, sparsity: .off, stats: nil)
    }

    /// What the linear inputs of `segments` (token ids without BOS) look like when `prefix`
    /// is in the cache before each. An empty prefix puts BOS at the head of each segment,
    /// measured with it: the model's own attention sink, with its outliers.
    public static func profile(_ loaded: LoadedModel, prefix: [Int], segments: [[Int]]) throws -> ActivationProfile {
        let g = try gemma(loaded, for: "measuring activations")
        let saved = g.options
        g.options = floatOptions(saved)
        defer { g.options = saved }
        let recorder = ActivationRecorder(sites: ActivationSites(g))
        for segment in segments {
            let tokens = prefix.isEmpty ? [loaded.tokenizer.bosId] + segment : segment
            let state = g.makeState(capacity: prefix.count + tokens.count)
            recorder.endPass()
            _ = try run(g, prefix: prefix, tokens: tokens, rows: [], tap: recorder, state: state)
        }
        return recorder.profile
    }
}
