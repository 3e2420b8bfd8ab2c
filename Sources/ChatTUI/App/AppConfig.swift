import Foundation
import Inference

/// Settings from `$XDG_CONFIG_HOME/sparkchat/config.json` (default ~/.config):
/// `{"theme": "dark", "model": "NAME", "temperature": 0.7, "max_tokens": 1024,
///   "top_k": 64, "top_p": 0.95, "seed": 1, "sparsity": "off", "speculative": "off",
///   "kv_cache": "q8_0", "system_prompt": "...", "endpoints": [{"name": "lab", "url": "http://host:8080/v1", "api_key_env": "LAB_KEY"}]}`
/// (`speculative`: off or a drafter, as `/speculative` takes; `endpoints`: OpenAI-compatible
/// servers whose models are listed as `NAME/MODEL_ID`).
/// Every key is optional; command-line options win over the file.
struct AppConfig: Codable, Equatable {
    var theme: String?
    var model: String?
    var temperature: Double?
    var maxTokens: Int?
    var topK: Int?
    var topP: Double?
    var seed: UInt64?
    var sparsity: String?
    var speculative: String?
    /// How local models store their KV cache: f32 (default) or q8_0, as `--kv-cache`.
    var kvCache: String?
    var systemPrompt: String?
    /// Chat format per model (catalog name → auto|template|gemma|chatml|llama3|dialogue|frame file),
    /// and `"*"` for every model not named.
    var formats: [String: String]?
    /// Extra texts that end a chat reply.
    var stop: [String]?
    var endpoints: [EndpointConfig]?
    /// The picker's sparkify fits: calibration tokens (default 3072) and text (default
    /// calibration/kjv-sparkify.txt), as `sparkchat sparkify --tokens/--calibration`.
    var sparkifyTokens: Int?
    var sparkifyCalibration: String?

    enum CodingKeys: String, CodingKey {
        case theme, model, temperature, seed, sparsity, speculative, formats, stop, endpoints
        case maxTokens = "max_tokens", topK = "top_k", topP = "top_p", systemPrompt = "system_prompt", kvCache = "kv_cache"
        case sparkifyTokens = "sparkify_tokens", sparkifyCalibration = "sparkify_calibration"
    }

    /// The configured chat format of a model (by catalog or file name), nil: decide from its files.
    func format(for info: ModelInfo) -> String? {
        guard let f = formats else { return nil }
        let file = URL(fileURLWithPath: info.path).deletingPathExtension().lastPathComponent
        return f[info.name] ?? f[file] ?? f["*"]
    }

    init() {}

    static func directory() -> URL {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.config")
        return URL(fileURLWithPath: base).appendingPathComponent("sparkchat")
    }

    /// The config, or defaults plus a one-line notice when the file is unreadable. Every
    /// sampling value is checked (SettingsValidation); a bad one is dropped and named in
    /// the notice, so the default applies instead.
    static func load(from dir: URL = directory()) -> (AppConfig, String?) {
        let url = dir.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return (AppConfig(), nil) }
        var config: AppConfig
        do {
            config = try JSONDecoder().decode(AppConfig.self, from: data)
        } catch {
            return (AppConfig(), "ignoring \(url.path): not a valid config file")
        }
        let notices = SettingsValidation.sanitize(&config, source: "config.json")
        return (config, notices.isEmpty ? nil : notices.joined(separator: "; "))
    }
}

/// One remote OpenAI-compatible endpoint of config.json. The key itself is never in the
/// file: `api_key_env` names the environment variable that holds it.
struct EndpointConfig: Codable, Equatable {
    var name: String
    var url: String
    var apiKeyEnv: String?

    enum CodingKeys: String, CodingKey {
        case name, url
        case apiKeyEnv = "api_key_env"
    }

    /// Why the entry cannot be used, nil when it can: the name prefixes model names
    /// (`NAME/MODEL_ID`), so it must be a plain word.
    var problem: String? {
        if name.isEmpty || name.contains("/") || name.contains(where: { $0.isWhitespace || $0.isNewline }) {
            return "needs a name without spaces or /"
        }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), URL(string: url)?.host != nil else {
            return "needs an http:// or https:// url"
        }
        return nil
    }
}
