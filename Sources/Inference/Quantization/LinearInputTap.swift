/// Something that sees every layer product's input (`LinearKernel.inputTap`) and may hand
/// back a replacement: the recorder of activation statistics (ActivationRecorder) and the
/// simulated static int8 quantizer (StaticInt8Quantizer). The returned pointer must stay
/// valid until the next call.
protocol LinearInputTap: AnyObject {
    func input(of w: WeightMatrix, _ x: UnsafePointer<Float>, rows T: Int) -> UnsafePointer<Float>
}

/// The input tensors of a Gemma model's linear layers: four per layer (q, k and v read
/// the same normed rows; o reads the attention output; gate and up read the same normed
/// rows; down reads the gated product). Static quantization gives each one scale. The
/// LM head and the embedding are not among them (kept in full precision, as is usual).
public struct ActivationSites: Sendable {
    public enum Kind: Int, CaseIterable, Sendable {
        case attentionInput, attentionOutput, feedForwardInput, downInput
        public var name: String { ["attn-in", "o-in", "ffn-in", "down-in"][rawValue] }
    }

    public let layers: Int
    /// Weight data address → site (layer · 4 + kind).
    private let siteOfWeight: [Int: Int]

    init(_ gemma: GemmaModel) {
        var map: [Int: Int] = [:]
        for (li, lw) in gemma.weights.layers.enumerated() {
            let kinds: [(WeightMatrix, Kind)] = [
                (lw.q, .attentionInput), (lw.k, .attentionInput), (lw.v, .attentionInput), (lw.o, .attentionOutput),
                (lw.gate, .feedForwardInput), (lw.up, .feedForwardInput), (lw.down, .downInput)
            ]
            for (w, kind) in kinds { map[Int(bitPattern: w.data)] = li * Kind.allCases.count + kind.rawValue }
        }
        siteOfWeight = map
        layers = gemma.weights.layers.count
    }

    public var count: Int { layers * Kind.allCases.count }
    func site(of w: WeightMatrix) -> Int? { siteOfWeight[Int(bitPattern: w.data)] }
    public static func layer(of site: Int) -> Int { site / Kind.allCases.count }
    public static func kind(of site: Int) -> Kind { Kind(rawValue: site % Kind.allCases.count)! }
}
