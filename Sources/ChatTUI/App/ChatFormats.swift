import Foundation
import Inference

/// Chooses the chat format a model runs with: the user's choice (`--format`, or
/// config.json's `formats` for this model), else what the model's files say: an
/// instruction-tuned model's markup, or the dialogue frame (formats/dialogue.json)
/// for a pretrained one, or plain continuation for a model trained on plain text only.
enum ChatFormats {
    /// What `--format` and config.json accept (besides a frame file's name or path).
    static let builtIn = ["auto", "template", "gemma", "chatml", "llama3", "dialogue", "continuation"]
    static let usage = "auto, template, gemma, chatml, llama3, dialogue, continuation, or a frame file (NAME in formats/ or PATH.json)"

    /// The format for `model`; `choice` nil or "auto" decides from the files.
    static func resolve(
        _ choice: String?, for model: LoadedModel,
        configDirectory: URL = AppConfig.directory()
    ) throws -> ChatFormat {
        let c = (choice ?? "auto").trimmingCharacters(in: .whitespaces)
        switch c.lowercased() {
        case "auto":
            if case .instruct(let f, _) = model.info.chatStyle { return f }
            if case .plain = model.info.chatStyle { return .continuation }
            return .dialogue(try frame("dialogue", configDirectory: configDirectory))
        case "template":
            if case .instruct(let f, _) = model.info.chatStyle { return f }
            throw ChatError(
                description:
                    "\(model.info.name) has no chat template it was trained on (\(model.info.chatStyle.reason)); use --format gemma, chatml, llama3 or dialogue"
            )
        case "gemma": return .gemma(trimContent: true)
        case "chatml": return .chatml
        case "llama3": return .llama3
        case "continuation": return .continuation
        default:
            return .dialogue(try frame(c, configDirectory: configDirectory))
        }
    }

    /// Loads and applies the format; the one-line error names the file.
    static func apply(_ choice: String?, to model: LoadedModel) throws {
        model.chatFormat = try resolve(choice, for: model)
    }

    /// A dialogue frame: a path to a .json file, or NAME looked up as formats/NAME.json.
    static func frame(_ nameOrPath: String, configDirectory: URL) throws -> DialogueFrame {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") {
            guard let data = readBounded(nameOrPath) else { throw ChatError(description: "cannot read chat format file \(nameOrPath)") }
            return try parse(data, source: nameOrPath)
        }
        guard !nameOrPath.isEmpty, nameOrPath.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ChatError(description: "bad chat format \"\(nameOrPath)\" (\(usage))")
        }
        for dir in DataDirectories.search("formats", configDirectory: configDirectory) {
            let path = dir.appendingPathComponent(nameOrPath + ".json").path
            if let data = readBounded(path) { return try parse(data, source: path) }
        }
        throw ChatError(
            description: "chat format \(nameOrPath) not found (looked for \(nameOrPath).json in formats/ and \(configDirectory.path)/formats; \(usage))")
    }

    /// A frame file is a few KB; anything over 1 MB is not one.
    private static func readBounded(_ path: String) -> Data? {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size <= 1 << 20 else { return nil }
        return FileManager.default.contents(atPath: path)
    }

    private static func parse(_ data: Data, source: String) throws -> DialogueFrame {
        do { return try DialogueFrame.decode(data, source: source) } catch { throw ChatError(description: "\(error)") }
    }

    /// The texts that end a reply in `format`, plus the user's own.
    static func stops(_ format: ChatFormat, extra: [String]) -> [String] {
        var out = format.stopStrings
        for s in extra where !s.isEmpty && !out.contains(s) { out.append(s) }
        return out
    }
}
