import Foundation
import Inference
import Remote
import Sessions

#if canImport(Glibc)
    import Glibc
#endif

/// The one set of rules for every sampling setting, wherever it comes from: the command
/// line (refused with an error), config.json and a session file (a bad value is dropped
/// with a notice naming the key, and the default used). Nothing is used unchecked: a
/// temperature of 1e300 or a top-k of 10^12 would otherwise reach the sampler.
enum SettingsValidation {
    static let temperatureRange = 0.0...5.0
    static let maxTokensRange = 1...1_048_576
    /// 0 is off; larger than any vocabulary is a mistake.
    static let topKRange = 0...1_048_576
    static let repetitionPenaltyRange = 0.01...10.0

    /// Why a value is not acceptable, in words ("must be in 0...5"); nil when it is fine.
    static func temperature(_ v: Double) -> String? {
        v.isFinite && temperatureRange.contains(v) ? nil : "must be in 0...5"
    }
    static func maxTokens(_ v: Int) -> String? { maxTokensRange.contains(v) ? nil : "must be in 1...1048576" }
    static func topK(_ v: Int) -> String? { topKRange.contains(v) ? nil : "must be in 0...1048576 (0 is off)" }
    static func topP(_ v: Double) -> String? { v > 0 && v <= 1 ? nil : "must be in (0, 1]" }
    static func minP(_ v: Double) -> String? { v >= 0 && v < 1 ? nil : "must be in [0, 1)" }
    static func repetitionPenalty(_ v: Double) -> String? {
        v.isFinite && repetitionPenaltyRange.contains(v) ? nil : "must be in 0.01...10"
    }
    static func sparsity(_ v: String) -> String? {
        SparsityMode(argument: v) == nil ? "must be off or stat-topk:F with F in (0, 1]" : nil
    }

    /// `trusted`: typed by the user (command line, /speculative, their own config). A drafter
    /// named in a session file (one someone sent) may only be a model from the models
    /// directory: a file must not make the app open an arbitrary path. From any source the
    /// drafter must be a model: a catalog name, a GGUF file or a safetensors checkpoint.
    static func speculative(_ v: String, trusted: Bool, modelsDirectory: URL = ModelCatalog.defaultDirectory()) -> String? {
        guard let mode = SpeculativeMode(argument: v) else {
            return "must be off, slice[:V], lookup[:N], sparse:F or model:NAME (optionally @γ)"
        }
        guard case .model(let path, _) = mode else { return nil }
        if !trusted, !isCatalogModel(path, modelsDirectory: modelsDirectory) {
            return "names a drafter outside the models directory \(modelsDirectory.path)"
        }
        return modelProblem(path, modelsDirectory: modelsDirectory).map { "names a drafter that \($0)" }
    }

    /// Why `nameOrPath` is not a model, in words ("is not a GGUF file or a safetensors
    /// checkpoint"); nil when it is a catalog name that resolves, a regular readable file
    /// that starts with the GGUF magic, or a directory with config.json and *.safetensors.
    /// Reads at most 4 bytes, and only of a regular file (a FIFO or a device would block).
    static func modelProblem(_ nameOrPath: String, modelsDirectory: URL = ModelCatalog.defaultDirectory()) -> String? {
        guard !nameOrPath.isEmpty, !nameOrPath.contains("\0") else { return "is empty" }
        var path = nameOrPath
        if !nameOrPath.contains("/") {
            guard let p = try? ModelCatalog.resolve(nameOrPath, directory: modelsDirectory) else {
                return "is not in the models directory \(modelsDirectory.path)"
            }
            path = p
        }
        var st = stat()
        guard stat(path, &st) == 0 else { return "does not exist" }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.contains("config.json") && names.contains(where: { $0.hasSuffix(".safetensors") })
                ? nil : "is a directory without config.json and *.safetensors"
        case S_IFREG:
            if ModelCatalog.isSparkifyOverlay(URL(fileURLWithPath: path).lastPathComponent) { return nil }
            guard let h = FileHandle(forReadingAtPath: path) else { return "cannot be read" }
            defer { try? h.close() }
            let magic = (try? h.read(upToCount: 4)) ?? Data()
            return magic == Data("GGUF".utf8) ? nil : "is not a GGUF file or a safetensors checkpoint"
        default:
            return "is not a regular file or a checkpoint directory"
        }
    }

    /// A model named by a file: a catalog name, or a path that resolves (symlinks followed)
    /// to something inside the models directory.
    static func isCatalogModel(_ nameOrPath: String, modelsDirectory: URL = ModelCatalog.defaultDirectory()) -> Bool {
        guard !nameOrPath.isEmpty, !nameOrPath.contains("\0") else { return false }
        if !nameOrPath.contains("/") { return nameOrPath != "." && nameOrPath != ".." }
        let root = modelsDirectory.resolvingSymlinksInPath().standardizedFileURL.path
        let target = URL(fileURLWithPath: nameOrPath).resolvingSymlinksInPath().standardizedFileURL.path
        return target.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// A model named by a session file must be one from the models directory (a catalog
    /// name, or a path inside it) and a model (see `modelProblem`); nil when it is, else the
    /// notice, which names the key.
    static func sessionModel(_ name: String, source: String, modelsDirectory: URL = ModelCatalog.defaultDirectory()) -> String? {
        let shown = DisplayText.truncate(DisplayText.singleLine(name), to: 60)
        guard isCatalogModel(name, modelsDirectory: modelsDirectory) else {
            return "\(source): model \(shown) is outside the models directory; using the default"
        }
        return modelProblem(name, modelsDirectory: modelsDirectory).map { "\(source): model \(shown) \($0); using the default" }
    }

    /// Checks every field of `s` against the rules; a bad one is reset to the default and
    /// named in a notice ("session file: temperature 1e+300 must be in 0...5; using 0.7").
    static func sanitize(
        _ s: inout SamplingSettings, source: String, trusted: Bool = false,
        modelsDirectory: URL = ModelCatalog.defaultDirectory()
    ) -> [String] {
        let d = SamplingSettings()
        var notices: [String] = []
        func reject(_ key: String, _ value: String, _ why: String, _ fallback: String) {
            notices.append("\(source): \(key) \(DisplayText.truncate(DisplayText.singleLine(value), to: 60)) \(why); using \(fallback)")
        }
        if let why = temperature(s.temperature) { reject("temperature", "\(s.temperature)", why, "\(d.temperature)"); s.temperature = d.temperature }
        if let why = maxTokens(s.maxTokens) { reject("max_tokens", "\(s.maxTokens)", why, "\(d.maxTokens)"); s.maxTokens = d.maxTokens }
        if let why = topK(s.topK) { reject("top_k", "\(s.topK)", why, "\(d.topK)"); s.topK = d.topK }
        if let why = topP(s.topP) { reject("top_p", "\(s.topP)", why, "\(d.topP)"); s.topP = d.topP }
        if let why = minP(s.minP) { reject("min_p", "\(s.minP)", why, "\(d.minP)"); s.minP = d.minP }
        if let why = repetitionPenalty(s.repetitionPenalty) {
            reject("repetition_penalty", "\(s.repetitionPenalty)", why, "\(d.repetitionPenalty)"); s.repetitionPenalty = d.repetitionPenalty
        }
        if let why = sparsity(s.sparsity) { reject("sparsity", s.sparsity, why, d.sparsity); s.sparsity = d.sparsity }
        if let v = s.speculative, let why = speculative(v, trusted: trusted, modelsDirectory: modelsDirectory) {
            reject("speculative", v, why, "off"); s.speculative = nil
        }
        return notices
    }

    /// A session file's settings and model (see `sanitize(_:source:)` for the settings). The
    /// model is dropped (nil: the default is used) when it is not a model the catalog has,
    /// nor a model of one of the user's own remote endpoints (ENDPOINT/MODEL_ID).
    static func sanitize(
        session c: inout Conversation, remoteEndpoints: [RemoteEndpoint] = [],
        modelsDirectory: URL = ModelCatalog.defaultDirectory()
    ) -> [String] {
        let source = "session \(c.id)"
        var notices = sanitize(&c.settings, source: source, trusted: false, modelsDirectory: modelsDirectory)
        if let m = c.model, RemoteModels.reference(m, endpoints: remoteEndpoints) == nil,
            let notice = sessionModel(m, source: source, modelsDirectory: modelsDirectory)
        {
            notices.append(notice)
            c.model = nil
        }
        return notices
    }

    /// The config's keys, checked by the same rules (the file is the user's own, so a
    /// drafter path in it is allowed). A bad key is dropped: the default applies.
    static func sanitize(_ c: inout AppConfig, source: String) -> [String] {
        var notices: [String] = []
        func reject(_ key: String, _ value: String, _ why: String) {
            notices.append("\(source): ignoring \(key) \(DisplayText.truncate(DisplayText.singleLine(value), to: 60)): \(why)")
        }
        if let v = c.temperature, let why = temperature(v) { reject("temperature", "\(v)", why); c.temperature = nil }
        if let v = c.maxTokens, let why = maxTokens(v) { reject("max_tokens", "\(v)", why); c.maxTokens = nil }
        if let v = c.topK, let why = topK(v) { reject("top_k", "\(v)", why); c.topK = nil }
        if let v = c.topP, let why = topP(v) { reject("top_p", "\(v)", why); c.topP = nil }
        if let v = c.sparsity, let why = sparsity(v) { reject("sparsity", v, why); c.sparsity = nil }
        if let v = c.speculative, let why = speculative(v, trusted: true) { reject("speculative", v, why); c.speculative = nil }
        if let v = c.kvCache, KVCacheType(rawValue: v) == nil {
            reject("kv_cache", v, "must be one of \(KVCacheType.allCases.map(\.rawValue).joined(separator: ", "))"); c.kvCache = nil
        }
        if let v = c.sparkifyTokens, !(64...(1 << 20)).contains(v) {
            reject("sparkify_tokens", "\(v)", "must be between 64 and 1048576"); c.sparkifyTokens = nil
        }
        if let list = c.endpoints {
            var seen = Set<String>()
            c.endpoints = list.filter { e in
                if let why = e.problem { reject("endpoint", e.name.isEmpty ? e.url : e.name, why); return false }
                if !seen.insert(e.name).inserted { reject("endpoint", e.name, "is named twice"); return false }
                return true
            }
        }
        return notices
    }
}
