import Foundation

/// Chooses the architecture file for a checkpoint and builds it.
enum ModelLoader {
    static func loadGGUF(_ path: String) throws -> LoadedModel {
        let g = try GGUFFile(path: path)
        let arch = try g.string("general.architecture")
        let tokenizer = try SentencePieceTokenizer.fromGGUF(g)
        let model: LanguageModel
        switch arch {
        case "gemma3", "gemma2", "gemma":
            model = try GemmaModel(gguf: g)
        default:
            throw EngineError.unsupported("architecture \(arch)")
        }
        // Every id the tokenizer can produce must have an embedding row.
        guard tokenizer.vocabularySize <= model.config.vocabularySize else {
            throw EngineError.format("tokenizer has \(tokenizer.vocabularySize) tokens but token_embd.weight has \(model.config.vocabularySize) rows")
        }
        let info = ModelInfo(
            name: (try? g.string("general.name")) ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
            path: path, architecture: arch, format: "gguf",
            parameterCount: g.tensors.values.reduce(0) { $0 + $1.elementCount },
            quantization: GGUFQuantization.describe(g),
            fileSize: g.file.count, contextLength: model.config.contextLength,
            chatStyle: StoredChatTemplate.style(gguf: g, path: path, architecture: arch))
        return LoadedModel(info: info, tokenizer: tokenizer, model: model)
    }

    static func loadSafetensorsDirectory(_ path: String) throws -> LoadedModel {
        let dir = URL(fileURLWithPath: path)
        let ck = try SafetensorsCheckpoint(directory: dir)
        let (modelType, _) = try ModelConfig.hfTextConfig(ck.config)
        let model: LanguageModel
        if modelType == "spark_gemma" {
            model = try SparkModel.load(ck)
        } else {
            let config = try ModelConfig.fromHF(ck.config)
            switch config.architecture {
            case .gemma, .gemma2, .gemma3:
                model = GemmaModel(config: config, weights: try HFTensorSource(checkpoint: ck).gemmaWeights(config))
            case .recurrentGemma:
                model = try RecurrentGemmaModel(config: config, checkpoint: ck)
            default:
                throw EngineError.unsupported("model_type \(modelType)")
            }
        }
        let tokenizer = try SentencePieceTokenizer.fromCheckpointDirectory(dir)
        return LoadedModel(info: checkpointInfo(ck, dir, modelType, model.config), tokenizer: tokenizer, model: model)
    }

    /// A sparkify overlay on top of its dense Gemma base (GGUF file or checkpoint directory).
    static func loadSparkified(_ path: String) throws -> LoadedModel {
        let overlay = try SparkifyOverlay(path: path)
        if !overlay.baseIsDirectory, SparkifyOverlay.isOverlayName(URL(fileURLWithPath: overlay.basePath).lastPathComponent) {
            throw EngineError.format("\(URL(fileURLWithPath: path).lastPathComponent): its base is another overlay")
        }
        let base = overlay.baseIsDirectory ? try loadSafetensorsDirectory(overlay.basePath) : try loadGGUF(overlay.basePath)
        guard let gemma = base.model as? GemmaModel else {
            throw EngineError.unsupported("sparkify overlays apply to Gemma 1/2/3 models, not \(base.info.architecture)")
        }
        let blockQuantized = ![GGMLType.f32, .f16, .bf16].contains(gemma.weights.layers.first?.gate.type ?? .f32)
        gemma.sparkified = try SparkifiedFFN(
            overlay: overlay, config: gemma.config,
            downs: gemma.weights.layers.map(\.down), quantize: blockQuantized)
        return LoadedModel(info: overlay.describe(base: base.info), tokenizer: base.tokenizer, model: gemma)
    }

    private static func checkpointInfo(
        _ ck: SafetensorsCheckpoint, _ dir: URL, _ modelType: String,
        _ config: ModelConfig
    ) -> ModelInfo {
        let path = dir.path
        let dtypes = Dictionary(grouping: ck.files.flatMap { $0.tensors.values }, by: { $0.dtype })
            .mapValues { $0.reduce(0) { $0 + $1.byteCount } }
        var info = ModelInfo(
            name: dir.lastPathComponent, path: path, architecture: modelType, format: "safetensors",
            parameterCount: ck.files.reduce(0) { $0 + $1.tensors.values.reduce(0) { $0 + $1.elementCount } },
            quantization: dtypes.max { $0.value < $1.value }?.key.rawValue ?? "?",
            fileSize: ck.files.reduce(0) { $0 + $1.file.count }, contextLength: config.contextLength,
            chatStyle: StoredChatTemplate.style(directory: dir, config: ck.config, architecture: modelType))
        if modelType == "spark_gemma" { info.sparsity = ModelSparsity.spark(config: ck.config) ?? info.sparsity }
        return info
    }
}

enum GGUFQuantization {
    /// llama.cpp's file type names (general.file_type), else the most common tensor type.
    static func describe(_ g: GGUFFile) -> String {
        let stored = storedTypes(g)
        // A file written by `sparkchat prune` says so: "Q4_K_M pruned 2:4".
        guard let method = g.metadata[ModelPruner.metadataPrefix + "method"]?.stringValue else { return stored }
        let fraction = g.metadata[ModelPruner.metadataPrefix + "fraction"]?.doubleValue ?? 0
        return stored + " pruned " + (method == "magnitude" ? String(format: "%g", fraction) : method)
    }

    static func storedTypes(_ g: GGUFFile) -> String {
        let names: [Int: String] = [
            0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
            10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
            15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"
        ]
        if let ft = g.metadata["general.file_type"]?.intValue, let n = names[ft] { return n }
        var bytes: [GGMLType: Int] = [:]
        for t in g.tensors.values { bytes[t.type, default: 0] += t.byteCount }
        return bytes.max { $0.value < $1.value }?.key.name ?? "?"
    }
}
