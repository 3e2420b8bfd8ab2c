import Foundation

/// Reads what a model's files say about its chat format: the stored template and
/// the names that label a checkpoint as instruction-tuned ("-it") or pretrained.
enum StoredChatTemplate {
    /// Template files larger than this are not templates (the largest published ones
    /// are a few tens of KB); they are ignored rather than read into memory.
    static let maxTemplateBytes = 1 << 20

    /// GGUF: `tokenizer.chat_template` plus `general.name`, `general.finetune`,
    /// `general.basename` and the file name.
    static func style(gguf g: GGUFFile, path: String, architecture: String) -> ChatStyle {
        var template = g.metadata["tokenizer.chat_template"]?.stringValue
        if let t = template, t.utf8.count > maxTemplateBytes { template = nil }
        let names =
            ["general.name", "general.finetune", "general.basename"].compactMap { g.metadata[$0]?.stringValue }
            + [URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent]
        return ChatStyle.decide(template: template, names: names, architecture: architecture)
    }

    /// Hugging Face: `chat_template.jinja`, else `tokenizer_config.json`'s
    /// `chat_template` (a string, or a list of named templates: "default" wins);
    /// names from the directory and config.json's `_name_or_path`.
    static func style(directory dir: URL, config: [String: Any], architecture: String) -> ChatStyle {
        var names = [dir.lastPathComponent]
        if let n = config["_name_or_path"] as? String { names.append(n) }
        return ChatStyle.decide(template: template(directory: dir), names: names, architecture: architecture)
    }

    static func template(directory dir: URL) -> String? {
        let jinja = dir.appendingPathComponent("chat_template.jinja")
        if let data = readBounded(jinja, limit: maxTemplateBytes) { return String(decoding: data, as: UTF8.self) }
        // tokenizer_config.json lists every added token (Gemma 3's is over 1 MB).
        guard let data = readBounded(dir.appendingPathComponent("tokenizer_config.json"), limit: 64 << 20),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        if let s = obj["chat_template"] as? String { return s.utf8.count <= maxTemplateBytes ? s : nil }
        if let list = obj["chat_template"] as? [[String: Any]] {
            let named = list.compactMap { e -> (String, String)? in
                guard let n = e["name"] as? String, let t = e["template"] as? String else { return nil }
                return (n, t)
            }
            return (named.first { $0.0 == "default" } ?? named.first)?.1
        }
        return nil
    }

    private static func readBounded(_ url: URL, limit: Int) -> Data? {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: url.path),
            let size = attrs[.size] as? Int, size <= limit
        else { return nil }
        return try? Data(contentsOf: url)
    }
}
