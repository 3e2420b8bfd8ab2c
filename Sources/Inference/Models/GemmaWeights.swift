import CKernels

/// Weights of one Gemma decoder layer. Norm vectors are float copies with Gemma's
/// "+1" folded in; matrices stay in their stored (mapped, possibly quantized) form.
struct GemmaLayerWeights {
    var attnNorm: [Float]
    var q: WeightMatrix
    var k: WeightMatrix
    var v: WeightMatrix
    var o: WeightMatrix
    var qNorm: [Float]?
    var kNorm: [Float]?
    var postAttnNorm: [Float]?
    var ffnNorm: [Float]
    var gate: WeightMatrix
    var up: WeightMatrix
    var down: WeightMatrix
    var postFfnNorm: [Float]?
}

struct GemmaWeights {
    var embedding: WeightMatrix  // vocab x hidden
    var lmHead: WeightMatrix  // tied to the embedding unless the file has its own
    var finalNorm: [Float]
    var layers: [GemmaLayerWeights]
    /// The mapped files the matrices point into: kept alive as long as the weights.
    var storage: [AnyObject] = []
}

/// Reads tensors out of a GGUF file by llama.cpp's names, checking shapes against the config.
struct GGUFTensorSource {
    let file: GGUFFile

    func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        guard let t = file.tensors[name] else { throw EngineError.format("missing tensor \(name)") }
        guard t.dims.count == 2, t.dims[0] == cols, t.dims[1] == rows else {
            throw EngineError.format("tensor \(name) has shape \(t.dims), expected [\(cols), \(rows)]")
        }
        // The kernels give zeros for types they do not know: refuse rather than run garbage.
        guard ck_supported(t.type) else { throw EngineError.unsupported("tensor type \(t.type.name) of \(name)") }
        return WeightMatrix(type: t.type, rows: rows, cols: cols, data: file.pointer(t))
    }

    func vector(_ name: String, count: Int) throws -> [Float] {
        guard let t = file.tensors[name] else { throw EngineError.format("missing tensor \(name)") }
        guard t.elementCount == count else {
            throw EngineError.format("tensor \(name) has \(t.elementCount) elements, expected \(count)")
        }
        guard ck_supported(t.type) else { throw EngineError.unsupported("tensor type \(t.type.name) of \(name)") }
        var out = [Float](repeating: 0, count: count)
        let m = WeightMatrix(type: t.type, rows: 1, cols: count, data: file.pointer(t))
        out.withUnsafeMutableBufferPointer { m.row(0, into: $0.baseAddress!) }
        return out
    }

    func optionalVector(_ name: String, count: Int) throws -> [Float]? {
        file.tensors[name] == nil ? nil : try vector(name, count: count)
    }

    func gemmaWeights(_ c: ModelConfig) throws -> GemmaWeights {
        let d = c.hiddenSize, f = c.intermediateSize
        let qd = c.headCount * c.headDim, kvd = c.kvHeadCount * c.headDim
        let emb = try matrix("token_embd.weight", rows: c.vocabularySize, cols: d)
        let head = file.tensors["output.weight"] != nil ? try matrix("output.weight", rows: c.vocabularySize, cols: d) : emb
        var layers: [GemmaLayerWeights] = []
        for i in 0..<c.layerCount {
            let p = "blk.\(i)."
            layers.append(
                GemmaLayerWeights(
                    attnNorm: try vector(p + "attn_norm.weight", count: d),
                    q: try matrix(p + "attn_q.weight", rows: qd, cols: d),
                    k: try matrix(p + "attn_k.weight", rows: kvd, cols: d),
                    v: try matrix(p + "attn_v.weight", rows: kvd, cols: d),
                    o: try matrix(p + "attn_output.weight", rows: d, cols: qd),
                    qNorm: try optionalVector(p + "attn_q_norm.weight", count: c.headDim),
                    kNorm: try optionalVector(p + "attn_k_norm.weight", count: c.headDim),
                    postAttnNorm: try optionalVector(p + "post_attention_norm.weight", count: d),
                    ffnNorm: try vector(p + "ffn_norm.weight", count: d),
                    gate: try matrix(p + "ffn_gate.weight", rows: f, cols: d),
                    up: try matrix(p + "ffn_up.weight", rows: f, cols: d),
                    down: try matrix(p + "ffn_down.weight", rows: d, cols: f),
                    postFfnNorm: try optionalVector(p + "post_ffw_norm.weight", count: d)))
            for m in [layers[i].q, layers[i].k, layers[i].v, layers[i].o, layers[i].gate, layers[i].up, layers[i].down]
            where !ck_supported(m.type) {
                throw EngineError.unsupported("tensor type \(m.type.name) in layer \(i)")
            }
        }
        return GemmaWeights(
            embedding: emb, lmHead: head, finalNorm: try vector("output_norm.weight", count: d), layers: layers,
            storage: [file])
    }
}

func ck_supported(_ t: GGMLType) -> Bool { ck_type_supported(Int32(t.rawValue)) != 0 }
