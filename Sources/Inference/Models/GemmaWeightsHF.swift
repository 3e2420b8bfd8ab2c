/// Reads Gemma 1/2/3 weights out of a Hugging Face checkpoint by transformers' names
/// (`model.layers.N.self_attn.q_proj.weight`, ...), checking every shape against the
/// config. HF norm weights are stored without Gemma's "+1", so it is added here once.
struct HFTensorSource {
    let checkpoint: SafetensorsCheckpoint

    /// Where the text model's tensors live: `model.` for Gemma 1/2/3-text; multimodal
    /// Gemma 3 nests it as `model.language_model.` (transformers 5) or
    /// `language_model.model.` (older saves).
    func textPrefix() throws -> String {
        for p in ["model.", "model.language_model.", "language_model.model.", ""] where checkpoint.has(p + "embed_tokens.weight") {
            return p
        }
        throw EngineError.format("missing tensor model.embed_tokens.weight")
    }

    /// A norm weight with Gemma's "+1" folded in (the forward pass multiplies by w).
    func norm(_ name: String, count: Int) throws -> [Float] {
        try checkpoint.vector(name, count: count).map { $0 + 1 }
    }

    func optionalNorm(_ name: String, count: Int) throws -> [Float]? {
        checkpoint.has(name) ? try norm(name, count: count) : nil
    }

    func gemmaWeights(_ c: ModelConfig) throws -> GemmaWeights {
        let ck = checkpoint
        let d = c.hiddenSize, f = c.intermediateSize
        let qd = c.headCount * c.headDim, kvd = c.kvHeadCount * c.headDim
        let m = try textPrefix()
        let emb = try ck.matrix(m + "embed_tokens.weight", rows: c.vocabularySize, cols: d)
        // A separate LM head only when the checkpoint has one (Gemma ties it by default).
        let headName = ["lm_head.weight", "language_model.lm_head.weight"].first { ck.has($0) }
        let head = try headName.map { try ck.matrix($0, rows: c.vocabularySize, cols: d) } ?? emb
        var layers: [GemmaLayerWeights] = []
        for i in 0..<c.layerCount {
            let p = m + "layers.\(i)."
            let lw = GemmaLayerWeights(
                attnNorm: try norm(p + "input_layernorm.weight", count: d),
                q: try ck.matrix(p + "self_attn.q_proj.weight", rows: qd, cols: d),
                k: try ck.matrix(p + "self_attn.k_proj.weight", rows: kvd, cols: d),
                v: try ck.matrix(p + "self_attn.v_proj.weight", rows: kvd, cols: d),
                o: try ck.matrix(p + "self_attn.o_proj.weight", rows: d, cols: qd),
                qNorm: c.usesQKNorm ? try norm(p + "self_attn.q_norm.weight", count: c.headDim) : nil,
                kNorm: c.usesQKNorm ? try norm(p + "self_attn.k_norm.weight", count: c.headDim) : nil,
                // Gemma 2/3 name the norm after attention "post_attention_layernorm" and the one
                // before the FFN "pre_feedforward_layernorm"; Gemma 1 uses the former before the FFN.
                postAttnNorm: c.usesPostNorms ? try norm(p + "post_attention_layernorm.weight", count: d) : nil,
                ffnNorm: try norm(p + (c.usesPostNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"), count: d),
                gate: try ck.matrix(p + "mlp.gate_proj.weight", rows: f, cols: d),
                up: try ck.matrix(p + "mlp.up_proj.weight", rows: f, cols: d),
                down: try ck.matrix(p + "mlp.down_proj.weight", rows: d, cols: f),
                postFfnNorm: c.usesPostNorms ? try norm(p + "post_feedforward_layernorm.weight", count: d) : nil)
            layers.append(lw)
        }
        return GemmaWeights(
            embedding: emb, lmHead: head, finalNorm: try norm(m + "norm.weight", count: d), layers: layers,
            storage: [ck])
    }
}
