/// What makes Gemma 1, 2 and 3 differ, in one table that both configuration readers
/// (GGUF metadata and config.json) use. Format-specific defaults (llama.cpp's or
/// transformers' values for absent keys) stay with each reader.
struct GemmaFamilyRules {
    /// The local/global attention pattern when a file does not list layer types.
    enum LayerPattern {
        /// Gemma 1: every layer attends to the whole context.
        case allGlobal
        /// Gemma 2: even layers local (sliding window), odd layers global.
        case alternating
        /// Gemma 3: layer i is global iff (i + 1) % period == 0, the others local.
        case periodic
    }

    let architecture: ModelConfig.Architecture
    /// general.architecture in GGUF files.
    let ggufName: String
    /// model_type values in config.json.
    let hfModelTypes: [String]
    let layerPattern: LayerPattern
    /// Soft-caps when a file does not set them (Gemma 2: tanh caps on scores and logits).
    let defaultAttentionSoftcap: Float?
    let defaultFinalSoftcap: Float?
    /// q and k normed per head before RoPE.
    let usesQKNorm: Bool
    /// Norms after attention and FFN as well as before.
    let usesPostNorms: Bool
    /// RoPE base of local layers when a file does not say; nil: local layers use the global base.
    let defaultLocalRopeBase: Double?

    static let all: [GemmaFamilyRules] = [
        GemmaFamilyRules(
            architecture: .gemma, ggufName: "gemma", hfModelTypes: ["gemma"], layerPattern: .allGlobal,
            defaultAttentionSoftcap: nil, defaultFinalSoftcap: nil, usesQKNorm: false, usesPostNorms: false,
            defaultLocalRopeBase: nil),
        GemmaFamilyRules(
            architecture: .gemma2, ggufName: "gemma2", hfModelTypes: ["gemma2"], layerPattern: .alternating,
            defaultAttentionSoftcap: 50, defaultFinalSoftcap: 30, usesQKNorm: false, usesPostNorms: true,
            defaultLocalRopeBase: nil),
        GemmaFamilyRules(
            architecture: .gemma3, ggufName: "gemma3", hfModelTypes: ["gemma3", "gemma3_text"],
            layerPattern: .periodic, defaultAttentionSoftcap: nil, defaultFinalSoftcap: nil,
            usesQKNorm: true, usesPostNorms: true, defaultLocalRopeBase: 10_000)
    ]

    static func gguf(_ name: String) -> GemmaFamilyRules? { all.first { $0.ggufName == name } }
    static func hf(_ modelType: String) -> GemmaFamilyRules? { all.first { $0.hfModelTypes.contains(modelType) } }

    /// Layer kinds of `count` layers by the family's pattern (`period`: Gemma 3's).
    func layerKinds(_ count: Int, period: Int) -> [ModelConfig.LayerKind] {
        switch layerPattern {
        case .allGlobal: return Array(repeating: .global, count: count)
        case .alternating: return (0..<count).map { $0 % 2 == 0 ? .local : .global }
        case .periodic: return ModelConfig.gemma3LayerKinds(count, period: period)
        }
    }

    /// The flags a loaded configuration carries.
    func apply(to c: inout ModelConfig) {
        c.usesQKNorm = usesQKNorm
        c.usesPostNorms = usesPostNorms
    }
}
