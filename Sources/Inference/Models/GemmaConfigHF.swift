import Foundation

/// Typed, checked reads from a parsed config.json. Every failure names the key.
struct HFConfigReader {
    let json: [String: Any]

    func has(_ k: String) -> Bool { json[k] != nil && !(json[k] is NSNull) }

    func int(_ k: String) throws -> Int? {
        guard has(k) else { return nil }
        guard let v = json[k] as? Int else { throw EngineError.format("config.json: \(k) is not an integer") }
        return v
    }

    func positive(_ k: String, default d: Int? = nil, max: Int = 1 << 24) throws -> Int {
        guard let v = try int(k) ?? d else { throw EngineError.format("config.json: missing \(k)") }
        guard v > 0 && v <= max else { throw EngineError.format("config.json: \(k) = \(v) is out of range") }
        return v
    }

    func double(_ k: String) throws -> Double? {
        guard has(k) else { return nil }
        if let v = json[k] as? Double { return v }
        if let v = json[k] as? Int { return Double(v) }
        throw EngineError.format("config.json: \(k) is not a number")
    }

    func string(_ k: String) throws -> String? {
        guard has(k) else { return nil }
        guard let v = json[k] as? String else { throw EngineError.format("config.json: \(k) is not a string") }
        return v
    }

    func object(_ k: String) throws -> [String: Any]? {
        guard has(k) else { return nil }
        guard let v = json[k] as? [String: Any] else { throw EngineError.format("config.json: \(k) is not an object") }
        return v
    }

    func strings(_ k: String) throws -> [String]? {
        guard has(k) else { return nil }
        guard let v = json[k] as? [String] else { throw EngineError.format("config.json: \(k) is not a list of strings") }
        return v
    }
}

extension ModelConfig {
    /// The `model_type` of a config.json, looking inside `text_config` for multimodal
    /// Gemma 3 checkpoints (`gemma3` wrapping `gemma3_text`).
    static func hfTextConfig(_ json: [String: Any]) throws -> (modelType: String, text: [String: Any]) {
        let top = HFConfigReader(json: json)
        if let text = try top.object("text_config") {
            let t = try HFConfigReader(json: text).string("model_type") ?? (try top.string("model_type") ?? "")
            return (t, text)
        }
        guard let t = try top.string("model_type") else { throw EngineError.format("config.json: missing model_type") }
        return (t, json)
    }

    /// Reads a Gemma 1/2/3 configuration from a Hugging Face config.json, with
    /// transformers' defaults where a key is absent. Both spellings of RoPE settings are
    /// read: transformers 5's `rope_parameters` (nested per layer type for Gemma 3) and
    /// the published `rope_theta` / `rope_local_base_freq` / `rope_scaling`.
    static func fromHF(_ json: [String: Any]) throws -> ModelConfig {
        let (modelType, text) = try hfTextConfig(json)
        if modelType == "recurrent_gemma" { return try fromHFRecurrentGemma(text) }
        guard let family = GemmaFamilyRules.hf(modelType) else {
            throw EngineError.unsupported("model_type \(modelType.isEmpty ? "(empty)" : modelType)")
        }
        let kind = family.architecture
        let r = HFConfigReader(json: text)
        // The FFN here is GeGLU with tanh-GELU; refuse a config that asks for another activation
        // rather than compute something else (published Gemma 1 configs say hidden_act "gelu"
        // but set no hidden_activation: transformers then uses the tanh form too).
        if let act = try r.string("hidden_activation"), !["gelu_pytorch_tanh", "gelu_new"].contains(act) {
            throw EngineError.unsupported("hidden_activation \(act) (only gelu_pytorch_tanh)")
        }
        // transformers' class defaults for keys a config.json leaves out.
        let d: (vocab: Int, hidden: Int, ffn: Int, layers: Int, heads: Int, kv: Int) =
            kind == .gemma
            ? (256_000, 3072, 24_576, 28, 16, 16)
            : kind == .gemma2 ? (256_000, 2304, 9216, 26, 8, 4) : (262_208, 2304, 9216, 26, 8, 4)
        let hidden = try r.positive("hidden_size", default: d.hidden)
        let layers = try r.positive("num_hidden_layers", default: d.layers, max: 4096)
        let ffn = try r.positive("intermediate_size", default: d.ffn)
        let heads = try r.positive("num_attention_heads", default: d.heads, max: 4096)
        let kvHeads = try r.positive("num_key_value_heads", default: d.kv, max: 4096)
        guard heads % kvHeads == 0 else {
            throw EngineError.format("config.json: num_attention_heads \(heads) is not a multiple of num_key_value_heads \(kvHeads)")
        }
        let headDim = try r.positive("head_dim", default: 256, max: 4096)
        let vocab = try r.positive("vocab_size", default: d.vocab)
        let ctx = try r.positive("max_position_embeddings", default: kind == .gemma3 ? 131_072 : 8192, max: 1 << 22)

        let (kinds, window) = try readLayerKinds(r, text, family, layers: layers)

        // Gemma 1 scales queries by head_dim^-0.5; Gemma 2/3 by query_pre_attn_scalar^-0.5.
        let scalar: Double = kind == .gemma ? Double(headDim) : (try r.double("query_pre_attn_scalar") ?? 256)
        guard scalar > 0 else { throw EngineError.format("config.json: query_pre_attn_scalar must be positive") }

        var c = ModelConfig(
            architecture: kind, vocabularySize: vocab, hiddenSize: hidden, intermediateSize: ffn,
            layerCount: layers, headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            contextLength: ctx, layerKinds: kinds, queryScale: Float(1 / scalar.squareRoot()),
            embeddingScale: Float(Double(hidden).squareRoot()))
        c.slidingWindow = window
        c.rmsNormEps = Float(try r.double("rms_norm_eps") ?? 1e-6)
        try c.readRoPE(r, family)
        try c.readSoftcaps(r, text, family)
        family.apply(to: &c)
        c.normWeightsIncludeOne = false
        return c
    }

    /// Local/global layers (`layer_types` when present, else the family's rule) and the
    /// sliding window of the local ones.
    private static func readLayerKinds(
        _ r: HFConfigReader, _ text: [String: Any], _ family: GemmaFamilyRules, layers: Int
    ) throws -> ([LayerKind], Int?) {
        let kinds: [LayerKind]
        if let types = try r.strings("layer_types") {
            guard types.count == layers else {
                throw EngineError.format("config.json: layer_types has \(types.count) entries for \(layers) layers")
            }
            kinds = try types.map {
                switch $0 {
                case "sliding_attention": return .local
                case "full_attention": return .global
                default: throw EngineError.unsupported("layer type \($0)")
                }
            }
        } else {
            let period = family.layerPattern == .periodic ? try r.positive("sliding_window_pattern", default: 6) : 1
            kinds = family.layerKinds(layers, period: period)
        }
        // An explicit `"sliding_window": null` makes every layer attend to the whole context.
        guard kinds.contains(.local) && !(text.keys.contains("sliding_window") && !r.has("sliding_window")) else {
            return (kinds, nil)
        }
        return (kinds, try r.positive("sliding_window", default: 4096, max: 1 << 22))
    }

    /// Attention and final logit soft-caps (transformers' Gemma 1 has no such keys).
    private mutating func readSoftcaps(_ r: HFConfigReader, _ text: [String: Any], _ family: GemmaFamilyRules) throws {
        guard architecture != .gemma else { return }
        // An explicit null switches a soft-cap off; only an absent key takes the default.
        let attn =
            text.keys.contains("attn_logit_softcapping")
            ? try r.double("attn_logit_softcapping") : family.defaultAttentionSoftcap.map(Double.init)
        let final =
            text.keys.contains("final_logit_softcapping")
            ? try r.double("final_logit_softcapping") : family.defaultFinalSoftcap.map(Double.init)
        if let a = attn, a > 0 { attentionSoftcap = Float(a) }
        if let f = final, f > 0 { finalSoftcap = Float(f) }
    }

    /// RoPE bases and linear scaling, from either spelling.
    private mutating func readRoPE(_ r: HFConfigReader, _ family: GemmaFamilyRules) throws {
        let defaultGlobal: Double = family.architecture == .gemma3 ? 1_000_000 : 10_000  // transformers' defaults
        var global = try r.double("rope_theta") ?? defaultGlobal
        var local = try r.double("rope_local_base_freq") ?? family.defaultLocalRopeBase ?? global
        var scaling = try r.object("rope_scaling")
        if let p = try r.object("rope_parameters") {
            if p["full_attention"] != nil || p["sliding_attention"] != nil {
                let full = try HFConfigReader(json: p).object("full_attention") ?? [:]
                let slide = try HFConfigReader(json: p).object("sliding_attention") ?? [:]
                if let t = try HFConfigReader(json: full).double("rope_theta") { global = t }
                if let t = try HFConfigReader(json: slide).double("rope_theta") { local = t }
                scaling = full
            } else {
                if let t = try HFConfigReader(json: p).double("rope_theta") { global = t; if family.defaultLocalRopeBase == nil { local = t } }
                scaling = p
            }
        }
        guard global > 0, local > 0 else { throw EngineError.format("config.json: rope_theta must be positive") }
        ropeBaseGlobal = Float(global)
        ropeBaseLocal = Float(local)
        if let s = scaling {
            let sr = HFConfigReader(json: s)
            let type = try sr.string("rope_type") ?? sr.string("type") ?? "default"
            switch type {
            case "default": break
            case "linear":
                guard let f = try sr.double("factor"), f > 0 else { throw EngineError.format("config.json: linear rope scaling needs a positive factor") }
                ropeScalingGlobal = Float(f)
            default: throw EngineError.unsupported("rope scaling type \(type)")
            }
        }
    }
}
