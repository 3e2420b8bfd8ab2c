import ArgumentParser
import Foundation
import Inference
import Serve

/// `sparkchat serve`: the engine behind an OpenAI-compatible HTTP API. The HTTP side
/// lives in the Serve target; this command resolves what the app decides: the model,
/// its chat format and the chat defaults, so a served chat reply is the reply
/// `generate --chat` gives.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve models over an OpenAI-compatible HTTP API.",
        discussion: """
            GET /health, GET /v1/models, POST /v1/chat/completions and /v1/completions (stream or not; \
            temperature, top_p, max_tokens, stop, seed, stream_options.include_usage). Chat requests get \
            the chat's defaults (temperature 0.7, 1024 tokens, DRY penalty, loop guard, the format's stop \
            texts); completions the plain sampler (temperature 0.8, 256 tokens). Each stream chunk carries \
            the token's engine statistics under x_sparkchat. Up to --max-batch requests per model decode \
            together (continuous batching: one pass per token for all of them); more wait in order, and \
            one beyond --max-queue waiting is answered 429. Prints `listening on http://HOST:PORT` once ready.
            """)

    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Address to listen on (default: loopback only).") var host = "127.0.0.1"
    @Option(name: .long, help: "Port; 0 picks a free one.") var port = 8080
    @Option(name: .customLong("api-key-env"), help: "Require `Authorization: Bearer KEY`, KEY read from this environment variable.")
    var apiKeyEnv: String?
    @Option(name: .long, help: "Chat format: \(ChatFormats.usage).") var format: String?
    @Option(name: .long, help: "Requests that may wait per model while one runs; more are answered 429.") var maxQueue = 16
    @Option(name: .long, help: "Requests per model decoded together in one batched pass per token (default 8; 1: one at a time).")
    var maxBatch = 8
    @Option(name: .long, help: "Largest request body in bytes; larger ones are answered 413.") var maxBodyBytes = 4 << 20
    @Option(name: .long, help: OptionHelp.sparsity) var sparsity: SparsityMode = .off
    @Option(name: .long, help: OptionHelp.kvCache) var kvCache: KVCacheType = .f32
    @Flag(name: .long, help: "Do not log requests on stderr.") var quiet = false

    func validate() throws {
        try ArgumentCheck.requireUTF8Arguments()
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be >= 0") }
        guard (1...64).contains(maxBatch) else { throw ValidationError("--max-batch must be between 1 and 64") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        if let v = apiKeyEnv {
            guard let key = ProcessInfo.processInfo.environment[v], !key.isEmpty else {
                throw ValidationError("--api-key-env \(v): the environment variable \(v) is not set or empty")
            }
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)  // a client gone mid-write is an error on that socket, not the server's end
        let loaded = try options.load()
        let (config, _) = AppConfig.load()
        let formatChoice = format
        let sparsity = self.sparsity, kvCache = self.kvCache
        @Sendable func serve(_ model: LoadedModel, id: String) throws -> ServedModel {
            try model.useKVCache(kvCache)
            try ChatFormats.apply(formatChoice ?? config.format(for: model.info), to: model)
            var chat = ChatDefaults.parameters()
            chat.stop = ChatFormats.stops(model.chatFormat, extra: config.stop ?? [])
            var raw = SamplingParameters()
            raw.maxTokens = 256
            return ServedModel(id: id, loaded: model, chatDefaults: chat, completionDefaults: raw, sparsity: sparsity)
        }
        let served = try serve(loaded, id: Self.modelId(loaded.info))
        let registry = ModelRegistry(
            loaded: served, catalog: Self.catalog(served: served, make: serve), maxWaiting: maxQueue,
            maxBatch: maxBatch)

        var cfg = ServerConfiguration()
        cfg.host = host
        cfg.port = port
        cfg.apiKey = apiKeyEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
        cfg.maxBodyBytes = maxBodyBytes
        cfg.maxWaiting = maxQueue
        cfg.logRequests = !quiet
        let server = OpenAIServer(config: cfg, registry: registry)
        let bound: Int
        do { bound = try server.start() } catch {
            throw ValidationError("cannot listen on \(host):\(port): \(error)")
        }
        emit("listening on http://\(host.contains(":") ? "[\(host)]" : host):\(bound)")
        try server.wait()
    }

    /// A model's API id: its catalog name (a GGUF file's name without `.gguf`, a
    /// checkpoint directory's name), which has no spaces, unlike the name inside the file.
    static func modelId(_ info: ModelInfo) -> String {
        if let m = ModelCatalog.scan().first(where: { $0.path == info.path }) { return m.name }
        let url = URL(fileURLWithPath: info.path)
        return url.pathExtension == "gguf" ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent
    }

    /// `GET /v1/models`: the served model, then the rest of the models directory, each
    /// loaded by the first request that names it. A request may name a model by its id,
    /// its file name or its path.
    static func catalog(served: ServedModel, make: @escaping @Sendable (LoadedModel, String) throws -> ServedModel) -> [CatalogModel] {
        func created(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date)
                .map { Int($0.timeIntervalSince1970) } ?? 0
        }
        let info = served.loaded.info
        var out = [
            CatalogModel(
                id: served.id, aliases: [URL(fileURLWithPath: info.path).lastPathComponent, info.path, info.name],
                contextLength: served.loaded.config.contextLength, created: created(info.path)
            ) { served }
        ]
        for m in ModelCatalog.scan() where m.path != info.path && m.name != served.id {
            out.append(
                CatalogModel(
                    id: m.name, aliases: [URL(fileURLWithPath: m.path).lastPathComponent, m.path],
                    contextLength: m.contextLength, created: created(m.path)
                ) {
                    try make(LoadedModel.load(path: m.path), m.name)
                })
        }
        return out
    }
}
