import Foundation

extension ModelConfig {
    /// RecurrentGemma's config.json: residual blocks cycle through `block_types`
    /// (recurrent, recurrent, attention); attention is local (attention_window_size),
    /// head_dim = hidden / heads, RoPE on `partial_rotary_factor` (0.5) of each head;
    /// the MLP is intermediate_size / 2 wide; logits are soft-capped (logits_soft_cap).
    static func fromHFRecurrentGemma(_ json: [String: Any]) throws -> ModelConfig {
        let r = HFConfigReader(json: json)
        if let act = try r.string("hidden_activation"), !["gelu_pytorch_tanh", "gelu_new"].contains(act) {
            throw EngineError.unsupported("hidden_activation \(act) (only gelu_pytorch_tanh)")
        }
        // transformers' class defaults (recurrentgemma-2b) for keys a config.json leaves out.
        let hidden = try r.positive("hidden_size", default: 2560)
        let layers = try r.positive("num_hidden_layers", default: 26, max: 4096)
        let ffn = try r.positive("intermediate_size", default: 7680)
        guard ffn >= 2 else { throw EngineError.format("config.json: intermediate_size \(ffn) is too small") }
        let heads = try r.positive("num_attention_heads", default: 10, max: 4096)
        let kvHeads = try r.positive("num_key_value_heads", default: heads, max: 4096)
        guard hidden % heads == 0, heads % kvHeads == 0 else {
            throw EngineError.format("config.json: hidden_size \(hidden), num_attention_heads \(heads) and num_key_value_heads \(kvHeads) do not divide")
        }
        let headDim = hidden / heads
        let lru = try r.positive("lru_width", default: hidden)
        guard lru % heads == 0 else { throw EngineError.format("config.json: lru_width \(lru) is not a multiple of num_attention_heads") }
        let types = try r.strings("block_types") ?? ["recurrent", "recurrent", "attention"]
        guard !types.isEmpty else { throw EngineError.format("config.json: block_types is empty") }
        let kinds: [LayerKind] = try (0..<layers).map {
            switch types[$0 % types.count] {
            case "recurrent": return .recurrent
            case "attention": return .local
            default: throw EngineError.unsupported("block type \(types[$0 % types.count])")
            }
        }
        var c = ModelConfig(
            architecture: .recurrentGemma, vocabularySize: try r.positive("vocab_size", default: 256_000), hiddenSize: hidden,
            intermediateSize: ffn / 2, layerCount: layers, headCount: heads, kvHeadCount: kvHeads,
            headDim: headDim, contextLength: 1 << 20, layerKinds: kinds,
            queryScale: Float(1 / Double(headDim).squareRoot()),
            // transformers keeps the normalizer √hidden as a bfloat16 buffer.
            embeddingScale: Float(Double(hidden).squareRoot()).roundedToBFloat16())
        c.slidingWindow = try r.positive("attention_window_size", default: 2048, max: 1 << 22)
        c.rmsNormEps = Float(try r.double("rms_norm_eps") ?? 1e-6)
        c.lruWidth = lru
        c.convWidth = try r.positive("conv1d_width", default: 4, max: 64)
        var theta = try r.double("rope_theta") ?? 10_000
        var fraction = try r.double("partial_rotary_factor") ?? 0.5
        if let p = try r.object("rope_parameters") {
            let pr = HFConfigReader(json: p)
            theta = try pr.double("rope_theta") ?? theta
            fraction = try pr.double("partial_rotary_factor") ?? fraction
        }
        let rot = Int(Double(headDim) * fraction)
        guard theta > 0, rot > 0, rot <= headDim, rot % 2 == 0 else {
            throw EngineError.format("config.json: rope_theta \(theta) / partial_rotary_factor \(fraction) are out of range")
        }
        c.ropeBaseGlobal = Float(theta); c.ropeBaseLocal = Float(theta)
        c.ropeDim = rot
        let cap = try r.double("logits_soft_cap") ?? 30
        if cap > 0 { c.finalSoftcap = Float(cap) }
        c.normWeightsIncludeOne = false
        return c
    }
}

extension Float {
    /// Round to nearest-even bfloat16 (the top 16 bits of a float32).
    func roundedToBFloat16() -> Float {
        let b = bitPattern
        let rounded = (b &+ 0x7FFF &+ ((b >> 16) & 1)) & 0xFFFF_0000
        return Float(bitPattern: rounded)
    }
}
