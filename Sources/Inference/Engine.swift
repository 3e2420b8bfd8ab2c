import Foundation

/// What the catalog and the picker show about a model.
public struct ModelInfo: Sendable, Equatable {
    public var name: String
    public var path: String
    public var architecture: String
    public var format: String  // "gguf" or "safetensors"
    public var parameterCount: Int
    public var quantization: String  // e.g. "Q4_K_M", "F32", "BF16"
    public var fileSize: Int
    public var contextLength: Int
    /// Instruction-tuned (with its markup) or pretrained (dialogue frame), from the files.
    public var chatStyle: ChatStyle
    /// What the FFN and attention skip, as the picker and `sparkchat models` show it
    /// ("dense", "sparkify 50% FFN", "spark 8% FFN · 256 keys"; ModelSparsity).
    public var sparsity: String = ModelSparsity.dense
    public init(
        name: String, path: String, architecture: String, format: String, parameterCount: Int,
        quantization: String, fileSize: Int, contextLength: Int,
        chatStyle: ChatStyle = .base(reason: "pretrained (no chat template stored)")
    ) {
        self.name = name; self.path = path; self.architecture = architecture; self.format = format
        self.parameterCount = parameterCount; self.quantization = quantization
        self.fileSize = fileSize; self.contextLength = contextLength; self.chatStyle = chatStyle
    }

    /// What the picker shows: the markup's name, or "dialogue" for a base model.
    public var chatFormatLabel: String {
        switch chatStyle {
        case .instruct(let f, _): return f.name
        case .base: return "dialogue"
        case .plain: return "continuation"
        }
    }
}

/// A model ready to run: weights mapped, tokenizer built. The public entry point of
/// the engine. Load with `LoadedModel.load(path:)`, generate with `Generator`.
public final class LoadedModel: @unchecked Sendable {
    public let info: ModelInfo
    public let tokenizer: TextTokenizer
    public let model: LanguageModel
    public var config: ModelConfig { model.config }
    /// The format `chatPrompt` renders with. Set at load from the files (an
    /// instruction-tuned model's markup); the app replaces it with the dialogue frame
    /// for a base model, or with what the user chose (`--format`, config).
    public var chatFormat: ChatFormat

    public init(info: ModelInfo, tokenizer: TextTokenizer, model: LanguageModel) {
        self.info = info; self.tokenizer = tokenizer; self.model = model
        if case .instruct(let f, _) = info.chatStyle {
            chatFormat = f
        } else if case .plain = info.chatStyle {
            chatFormat = .continuation
        } else {
            chatFormat = ChatStyle.familyFormat(info.architecture) ?? .gemma(trimContent: true)
        }
    }

    /// Makes new states store keys and values as `type`; refuses, in one line, a model
    /// whose attention reads only float32 keys (Spark's top-k attention kernel).
    public func useKVCache(_ type: KVCacheType) throws {
        guard model.kvCacheTypes.contains(type) else {
            throw EngineError.unsupported(
                "--kv-cache \(type) is not supported for \(info.architecture) models (supported: \(model.kvCacheTypes.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        model.options.kvCache = type
    }

    /// Loads a GGUF file or a Hugging Face checkpoint directory.
    public static func load(path: String) throws -> LoadedModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw EngineError.file("model not found: \(path)")
        }
        if isDir.boolValue {
            return try ModelLoader.loadSafetensorsDirectory(path)
        }
        if SparkifyOverlay.isOverlayName(URL(fileURLWithPath: path).lastPathComponent) {
            return try ModelLoader.loadSparkified(path)
        }
        // A file inside a checkpoint directory (model.safetensors, a shard, config.json) names the directory.
        if path.hasSuffix(".safetensors") || path.hasSuffix("/config.json") || path.hasSuffix(".safetensors.index.json") {
            return try ModelLoader.loadSafetensorsDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        return try ModelLoader.loadGGUF(path)
    }

    /// Renders a conversation in the model's chat format (`chatFormat`).
    public func chatPrompt(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        chatFormat.render(messages, addGenerationPrompt: addGenerationPrompt)
    }
}
