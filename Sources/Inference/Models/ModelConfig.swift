/// Hyper-parameters of a Gemma-family model, read from GGUF metadata or config.json.
public struct ModelConfig: Sendable, Equatable {
    public enum Architecture: String, Sendable { case gemma, gemma2, gemma3, recurrentGemma = "recurrent_gemma", spark }
    public enum LayerKind: String, Sendable { case global, local, recurrent }

    public var architecture: Architecture
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var contextLength: Int
    public var rmsNormEps: Float = 1e-6
    public var ropeBaseGlobal: Float = 10_000
    public var ropeBaseLocal: Float = 10_000
    /// Linear RoPE scaling factor on global layers (Gemma 3 4B+: 8); 1 = none.
    public var ropeScalingGlobal: Float = 1
    public var slidingWindow: Int? = nil
    public var layerKinds: [LayerKind]
    public var queryScale: Float
    public var attentionSoftcap: Float? = nil
    public var finalSoftcap: Float? = nil
    public var usesQKNorm: Bool = false
    /// Gemma 2/3: norms after attention and FFN as well as before.
    public var usesPostNorms: Bool = false
    /// GGUF norm weights already include the +1 of Gemma's RMSNorm.
    public var normWeightsIncludeOne: Bool = true
    public var embeddingScale: Float
    /// RecurrentGemma (Griffin): width of the RG-LRU state and of the causal conv1d.
    public var lruWidth: Int = 0
    public var convWidth: Int = 0
    /// Head dims that RoPE rotates (RecurrentGemma: half of head_dim); nil = all.
    public var ropeDim: Int? = nil

    public init(
        architecture: Architecture, vocabularySize: Int, hiddenSize: Int, intermediateSize: Int,
        layerCount: Int, headCount: Int, kvHeadCount: Int, headDim: Int, contextLength: Int,
        layerKinds: [LayerKind], queryScale: Float, embeddingScale: Float
    ) {
        self.architecture = architecture; self.vocabularySize = vocabularySize; self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize; self.layerCount = layerCount; self.headCount = headCount
        self.kvHeadCount = kvHeadCount; self.headDim = headDim; self.contextLength = contextLength
        self.layerKinds = layerKinds; self.queryScale = queryScale; self.embeddingScale = embeddingScale
    }

    /// The positions a layer's queries see back from their own: the sliding window for a
    /// local layer, nil (the whole context) for a global one.
    func attentionWindow(layer: Int) -> Int? { layerKinds[layer] == .local ? slidingWindow : nil }

    /// Gemma 3's pattern: layer i is global iff (i+1) % 6 == 0.
    public static func gemma3LayerKinds(_ n: Int, period: Int = 6) -> [LayerKind] {
        (0..<n).map { ($0 + 1) % period == 0 ? .global : .local }
    }
}
