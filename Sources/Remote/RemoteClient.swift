import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// What a completion request asks for. Only the options every OpenAI-compatible server
/// takes are sent unasked; `topK` (llama-server, vLLM and Ollama take it, OpenAI itself
/// refuses it) only when set.
public struct CompletionRequest: Sendable {
    public enum Input: Sendable {
        /// `/chat/completions`: (role, content) pairs, roles system|user|assistant.
        case chat([(role: String, content: String)])
        /// `/completions`: raw text, no chat template.
        case prompt(String)
    }
    public var model: String
    public var input: Input
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var maxTokens: Int?
    public var seed: UInt64?
    public var stop: [String] = []

    public init(model: String, input: Input) { self.model = model; self.input = input }

    func body() throws -> Data {
        var b: [String: Any] = ["model": model, "stream": true, "stream_options": ["include_usage": true]]
        switch input {
        case .chat(let messages): b["messages"] = messages.map { ["role": $0.role, "content": $0.content] }
        case .prompt(let p): b["prompt"] = p
        }
        if let v = temperature { b["temperature"] = v }
        if let v = topP { b["top_p"] = v }
        if let v = topK { b["top_k"] = v }
        if let v = maxTokens { b["max_tokens"] = v }
        if let v = seed { b["seed"] = v }
        if !stop.isEmpty { b["stop"] = Array(stop.prefix(4)) }  // OpenAI takes at most four
        return try JSONSerialization.data(withJSONObject: b, options: [.sortedKeys])
    }

    var path: String {
        if case .chat = input { return "/chat/completions" }
        return "/completions"
    }
}

/// Per-token statistics `sparkchat serve` adds to each chunk under `x_sparkchat`.
public struct ServerTokenStats: Sendable, Equatable {
    public var ffnActive: Int, ffnTotal: Int, attended: Int
    public var flops: Double, flopsDense: Double
    public init(ffnActive: Int, ffnTotal: Int, attended: Int, flops: Double, flopsDense: Double) {
        self.ffnActive = ffnActive; self.ffnTotal = ffnTotal; self.attended = attended
        self.flops = flops; self.flopsDense = flopsDense
    }
}

/// What a completion stream delivers, in order.
public enum StreamEvent: Sendable, Equatable {
    /// A piece of the reply (a chunk's text, usually one token).
    case text(String, stats: ServerTokenStats?)
    /// Token counts as the server reports them (`stream_options.include_usage`).
    case usage(promptTokens: Int, completionTokens: Int)
}

/// How a stream ended without an error.
public struct StreamOutcome: Sendable, Equatable {
    /// The server's `finish_reason` ("stop", "length", ...), nil when cancelled.
    public var finishReason: String?
    public var cancelled: Bool
    public init(finishReason: String?, cancelled: Bool) { self.finishReason = finishReason; self.cancelled = cancelled }
}

/// The OpenAI-compatible client: listing models and streaming completions. Blocking
/// calls, meant for a worker thread (the chat's generation thread, a command's main).
public enum RemoteClient {
    static func request(_ endpoint: RemoteEndpoint, _ path: String, timeout: Double) throws -> URLRequest {
        var r = URLRequest(url: try endpoint.url(path))
        r.timeoutInterval = timeout
        if let k = endpoint.apiKey { r.setValue("Bearer \(k)", forHTTPHeaderField: "Authorization") }
        r.setValue("application/json", forHTTPHeaderField: "Accept")
        return r
    }

    /// `GET {url}/models` of one endpoint.
    public static func listModels(_ endpoint: RemoteEndpoint, timeouts: RemoteTimeouts = .listing) -> EndpointListing {
        let t0 = Date()
        let result: Result<[RemoteModel], RemoteError>
        do {
            let r = try request(endpoint, "/models", timeout: timeouts.connect)
            result = .success(try parseModels(HTTPExchange.fetch(r, timeouts: timeouts), endpoint: endpoint.name))
        } catch {
            result = .failure(endpoint.explain(RemoteError.from(error, url: endpoint.baseURL)))
        }
        return EndpointListing(endpoint: endpoint, result: result, seconds: Date().timeIntervalSince(t0))
    }

    /// Every endpoint at once: the whole listing takes as long as the slowest endpoint,
    /// which the listing time limit bounds.
    public static func listModels(_ endpoints: [RemoteEndpoint], timeouts: RemoteTimeouts = .listing) -> [EndpointListing] {
        guard !endpoints.isEmpty else { return [] }
        let lock = NSLock()
        var results = [EndpointListing?](repeating: nil, count: endpoints.count)
        DispatchQueue.concurrentPerform(iterations: endpoints.count) { i in
            let l = listModels(endpoints[i], timeouts: timeouts)
            lock.lock(); results[i] = l; lock.unlock()
        }
        return results.map { $0! }
    }

    /// OpenAI's `{"object":"list","data":[{"id":...}]}`; Ollama's and llama-server's extras are read when there.
    static func parseModels(_ data: Data, endpoint: String) throws -> [RemoteModel] {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let list = obj["data"] as? [[String: Any]]
        else {
            throw RemoteError.malformedEvent("the model list is not OpenAI's {\"data\": [...]}")
        }
        return list.compactMap { m in
            guard let id = m["id"] as? String, !id.isEmpty else { return nil }
            let meta = m["meta"] as? [String: Any]
            let ctx = (m["max_model_len"] as? Int) ?? (meta?["n_ctx_train"] as? Int) ?? (m["context_length"] as? Int)
            return RemoteModel(endpoint: endpoint, id: id, ownedBy: m["owned_by"] as? String, contextLength: ctx)
        }
    }

    /// Streams a completion: `onEvent` gets each piece as it comes. Throws RemoteError on
    /// any failure, including a stream that ends before its last event (what came before
    /// has been delivered, so the caller keeps the partial reply).
    public static func stream(
        _ endpoint: RemoteEndpoint, _ completion: CompletionRequest, timeouts: RemoteTimeouts = .chat,
        isCancelled: () -> Bool = { false }, onEvent: (StreamEvent) -> Void
    ) throws -> StreamOutcome {
        var r = try request(endpoint, completion.path, timeout: timeouts.connect)
        r.httpMethod = "POST"
        r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        r.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        r.httpBody = try completion.body()
        var parser = SSEParser()
        var decoder = ChunkDecoder()
        let end: HTTPExchange.End
        do {
            end = try HTTPExchange.perform(r, timeouts: timeouts, isCancelled: isCancelled) { piece in
                for e in try parser.feed(piece) where !decoder.sawDone {
                    try decoder.decode(e, onEvent)
                }
            }
        } catch {
            // A connection cut after the last event is a normal end (some servers close hard).
            if decoder.sawDone || decoder.finishReason != nil, case .cut = RemoteError.from(error, url: endpoint.baseURL) {
                return StreamOutcome(finishReason: decoder.finishReason, cancelled: false)
            }
            if let s = error as? SSEError { throw RemoteError.malformedEvent(s.description) }
            throw endpoint.explain(RemoteError.from(error, url: endpoint.baseURL))
        }
        if end == .cancelled { return StreamOutcome(finishReason: nil, cancelled: true) }
        guard decoder.sawDone || decoder.finishReason != nil else { throw RemoteError.cut }
        return StreamOutcome(finishReason: decoder.finishReason, cancelled: false)
    }
}

/// Reads the JSON of each stream event: OpenAI's chunk shape, chat (`delta.content`) or
/// text (`text`), with `usage` in the last chunk and `x_sparkchat` stats when the server
/// is `sparkchat serve`.
struct ChunkDecoder {
    var sawDone = false
    var finishReason: String?

    mutating func decode(_ e: SSEEvent, _ onEvent: (StreamEvent) -> Void) throws {
        let data = e.data.trimmingCharacters(in: .whitespaces)
        if data == "[DONE]" { sawDone = true; return }
        if data.isEmpty { return }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else {
            throw RemoteError.malformedEvent("not a JSON object: \(RemoteError.oneLine(data, limit: 60))")
        }
        // llama-server and vLLM report a failure inside an open stream this way.
        if let err = obj["error"] {
            let m = (err as? [String: Any])?["message"] as? String ?? "\(err)"
            throw RemoteError.transport("the server stopped the reply: \(RemoteError.oneLine(m, limit: 160))")
        }
        let choice = (obj["choices"] as? [[String: Any]])?.first
        let text = ((choice?["delta"] as? [String: Any])?["content"] as? String) ?? (choice?["text"] as? String)
        let stats = ChunkDecoder.stats(obj["x_sparkchat"] ?? choice?["x_sparkchat"])
        if let t = text, !t.isEmpty { onEvent(.text(t, stats: stats)) }
        if let f = choice?["finish_reason"] as? String { finishReason = f }
        if let u = obj["usage"] as? [String: Any], let p = u["prompt_tokens"] as? Int, let c = u["completion_tokens"] as? Int {
            onEvent(.usage(promptTokens: p, completionTokens: c))
        }
    }

    static func stats(_ any: Any?) -> ServerTokenStats? {
        guard let s = any as? [String: Any] else { return nil }
        func int(_ k: String) -> Int? { (s[k] as? NSNumber)?.intValue }
        func dbl(_ k: String) -> Double? { (s[k] as? NSNumber)?.doubleValue }
        guard let active = int("ffn_active"), let total = int("ffn_total") else { return nil }
        return ServerTokenStats(
            ffnActive: active, ffnTotal: total, attended: int("attended") ?? 0,
            flops: dbl("flops") ?? 0, flopsDense: dbl("flops_dense") ?? 0)
    }
}
