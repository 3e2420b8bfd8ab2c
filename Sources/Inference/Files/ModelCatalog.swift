import Foundation

/// The models a user has: GGUF files and Hugging Face checkpoint directories in the
/// models directory. Scanning reads headers only (mmap), so it is cheap.
public enum ModelCatalog {
    /// `$SPARKCHAT_MODELS`, else `$XDG_DATA_HOME/sparkchat/models`, else `~/.local/share/sparkchat/models`.
    public static func defaultDirectory() -> URL {
        let env = ProcessInfo.processInfo.environment
        if let m = env["SPARKCHAT_MODELS"], !m.isEmpty { return URL(fileURLWithPath: m) }
        let data =
            env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.local/share")
        return URL(fileURLWithPath: data).appendingPathComponent("sparkchat/models")
    }

    /// Every loadable model in `directory`, sorted by name. Unreadable entries are skipped
    /// (and reported through `problems`).
    public static func scan(directory: URL = defaultDirectory(), problems: ((String) -> Void)? = nil) -> [ModelInfo] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else { return [] }
        var out: [ModelInfo] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = directory.appendingPathComponent(name).path
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            do {
                if isDir.boolValue {
                    guard fm.fileExists(atPath: path + "/config.json") else { continue }
                    out.append(try describeDirectory(path))
                } else if name.hasSuffix(".gguf") {
                    out.append(try describeGGUF(path))
                } else if SparkifyOverlay.isOverlayName(name) {
                    out.append(try describeOverlay(path))
                }
            } catch {
                problems?("\(name): \(error)")
            }
        }
        return out
    }

    /// A path, or a catalog name (file name with or without `.gguf`, directory name, or
    /// the model's own name), resolved to a path.
    public static func resolve(_ nameOrPath: String, directory: URL = defaultDirectory()) throws -> String {
        let fm = FileManager.default
        if nameOrPath.contains("/") || fm.fileExists(atPath: nameOrPath) {
            guard fm.fileExists(atPath: nameOrPath) else { throw EngineError.file("model not found: \(nameOrPath)") }
            return nameOrPath
        }
        for candidate in [nameOrPath, nameOrPath + ".gguf"] {
            let p = directory.appendingPathComponent(candidate).path
            if fm.fileExists(atPath: p) { return p }
        }
        let lower = nameOrPath.lowercased()
        if let m = scan(directory: directory).first(where: { $0.name.lowercased() == lower }) { return m.path }
        throw EngineError.file("model not found: \(nameOrPath) (not a path, and not in \(directory.path); see `sparkchat models`)")
    }

    /// The model `sparkchat` opens when none is named: the default download if present,
    /// else the first model in the catalog.
    public static let defaultModelFile = "gemma-3-270m-q4_k_m.gguf"
    public static func defaultModel(directory: URL = defaultDirectory()) throws -> String {
        let p = directory.appendingPathComponent(defaultModelFile).path
        if FileManager.default.fileExists(atPath: p) { return p }
        if let first = scan(directory: directory).first { return first.path }
        throw EngineError.file("no models in \(directory.path); run ./scripts/setup to fetch the default model")
    }

    static func describeGGUF(_ path: String) throws -> ModelInfo {
        let g = try GGUFFile(path: path)
        let arch = try g.string("general.architecture")
        let ctx = (try? g.int("\(arch).context_length")) ?? 0
        return ModelInfo(
            name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
            path: path, architecture: arch, format: "gguf",
            parameterCount: g.tensors.values.reduce(0) { $0 + $1.elementCount },
            quantization: GGUFQuantization.describe(g), fileSize: g.file.count, contextLength: ctx,
            chatStyle: StoredChatTemplate.style(gguf: g, path: path, architecture: arch))
    }

    /// Is this file name a sparkify overlay (listed and loaded as its own model)?
    public static func isSparkifyOverlay(_ fileName: String) -> Bool { SparkifyOverlay.isOverlayName(fileName) }

    /// A sparkify overlay: listed as its own model (the base with a sparse FFN).
    static func describeOverlay(_ path: String) throws -> ModelInfo {
        let overlay = try SparkifyOverlay(path: path)
        return overlay.describe(
            base: overlay.baseIsDirectory
                ? try describeDirectory(overlay.basePath)
                : try describeGGUF(overlay.basePath))
    }

    /// A Hugging Face checkpoint directory: architecture from config.json's model_type,
    /// size and dominant dtype from the safetensors headers (mapped, not read).
    static func describeDirectory(_ path: String) throws -> ModelInfo {
        let url = URL(fileURLWithPath: path)
        let ck = try SafetensorsCheckpoint(directory: url)
        let top = HFConfigReader(json: ck.config)
        let text = try? top.object("text_config")
        let ctx = try? HFConfigReader(json: text ?? ck.config).int("max_position_embeddings")
        var bytes: [SafetensorsDType: Int] = [:]
        var params = 0
        for f in ck.files {
            for t in f.tensors.values { bytes[t.dtype, default: 0] += t.byteCount; params += t.elementCount }
        }
        var info = ModelInfo(
            name: url.lastPathComponent, path: path,
            architecture: (try? top.string("model_type")) ?? "?", format: "safetensors",
            parameterCount: params, quantization: bytes.max { $0.value < $1.value }?.key.rawValue ?? "?",
            fileSize: ck.files.reduce(0) { $0 + $1.file.count }, contextLength: ctx ?? 0,
            chatStyle: StoredChatTemplate.style(
                directory: url, config: ck.config,
                architecture: (try? top.string("model_type")) ?? "?"))
        if info.architecture == "spark_gemma" { info.sparsity = ModelSparsity.spark(config: ck.config) ?? info.sparsity }
        return info
    }
}
