import Foundation

extension ModelConfig {
    /// Reads a Gemma 1/2/3 configuration from llama.cpp's GGUF metadata (`gemma.*`,
    /// `gemma2.*`, `gemma3.*`), with llama.cpp's defaults where a key is absent.
    static func fromGGUF(_ g: GGUFFile) throws -> ModelConfig {
        let arch = try g.string("general.architecture")
        guard let family = GemmaFamilyRules.gguf(arch) else { throw EngineError.unsupported("architecture \(arch)") }
        let kind = family.architecture
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func positive(_ k: String, _ v: Int?, max: Int = 1 << 24) throws -> Int {
            guard let v else { throw EngineError.format("missing metadata \(key(k))") }
            guard v > 0 && v <= max else { throw EngineError.format("metadata \(key(k)) = \(v) is out of range") }
            return v
        }
        let hidden = try positive("embedding_length", g.optionalInt(key("embedding_length")))
        let layers = try positive("block_count", g.optionalInt(key("block_count")), max: 4096)
        let ffn = try positive("feed_forward_length", g.optionalInt(key("feed_forward_length")))
        let heads = try positive("attention.head_count", g.optionalInt(key("attention.head_count")), max: 4096)
        let kvHeads = try positive("attention.head_count_kv", g.optionalInt(key("attention.head_count_kv")) ?? heads, max: 4096)
        guard heads % kvHeads == 0 else { throw EngineError.format("head_count \(heads) is not a multiple of head_count_kv \(kvHeads)") }
        let headDim = try positive("attention.key_length", g.optionalInt(key("attention.key_length")) ?? hidden / heads, max: 4096)
        let ctx = try positive("context_length", g.optionalInt(key("context_length")) ?? 8192, max: 1 << 22)
        guard let emb = g.tensors["token_embd.weight"], emb.dims.count == 2, emb.dims[0] == hidden else {
            throw EngineError.format("token_embd.weight missing or not [\(hidden), vocab]")
        }
        let vocab = emb.dims[1]

        let period = family.layerPattern == .periodic ? try g.optionalInt(key("attention.sliding_window_pattern")) ?? 6 : 1
        guard period > 0 else { throw EngineError.format("sliding_window_pattern must be positive") }
        let kinds = family.layerKinds(layers, period: period)
        // llama.cpp's window defaults: Gemma 2 4096, Gemma 3 512.
        let window: Int? =
            family.layerPattern == .allGlobal
            ? nil : try g.optionalInt(key("attention.sliding_window")) ?? (kind == .gemma2 ? 4096 : 512)
        if let w = window, w <= 0 { throw EngineError.format("sliding_window \(w) must be positive") }

        // Query scale as llama.cpp sets it: 1/sqrt(head_dim), except the 27B models
        // whose query_pre_attn_scalar is hidden/heads. A file may state it explicitly.
        let scalar: Double
        if let s = try g.optionalDouble(key("attention.query_pre_attn_scalar")) {
            scalar = s
        } else if kind != .gemma && layers == (kind == .gemma2 ? 46 : 62) {
            scalar = Double(hidden / heads)
        } else {
            scalar = Double(headDim)
        }
        guard scalar > 0 else { throw EngineError.format("query_pre_attn_scalar must be positive") }

        var c = ModelConfig(
            architecture: kind, vocabularySize: vocab, hiddenSize: hidden, intermediateSize: ffn,
            layerCount: layers, headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            contextLength: ctx, layerKinds: kinds, queryScale: Float(1 / scalar.squareRoot()),
            embeddingScale: Float(Double(hidden).squareRoot()))
        c.slidingWindow = window
        c.rmsNormEps = Float(try g.optionalDouble(key("attention.layer_norm_rms_epsilon")) ?? 1e-6)
        c.ropeBaseGlobal = Float(try g.optionalDouble(key("rope.freq_base")) ?? 10_000)
        // llama.cpp fixes the local-layer base of Gemma 3 at 10 000; newer files may say it.
        c.ropeBaseLocal = Float(try g.optionalDouble(key("rope.freq_base_swa")) ?? family.defaultLocalRopeBase ?? Double(c.ropeBaseGlobal))
        if (try? g.string(key("rope.scaling.type"))) == "linear", let f = try g.optionalDouble(key("rope.scaling.factor")), f > 0 {
            c.ropeScalingGlobal = Float(f)
        }
        if let cap = try g.optionalDouble(key("attn_logit_softcapping")), cap > 0 { c.attentionSoftcap = Float(cap) }
        if let cap = try g.optionalDouble(key("final_logit_softcapping")), cap > 0 { c.finalSoftcap = Float(cap) }
        c.attentionSoftcap = c.attentionSoftcap ?? family.defaultAttentionSoftcap
        c.finalSoftcap = c.finalSoftcap ?? family.defaultFinalSoftcap
        family.apply(to: &c)
        c.normWeightsIncludeOne = true
        return c
    }
}
