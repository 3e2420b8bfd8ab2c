import Foundation

/// An OpenAI-compatible server: `baseURL` is the API root (`http://host:8080/v1`), so
/// `{baseURL}/models` lists and `{baseURL}/chat/completions` streams.
public struct RemoteEndpoint: Sendable, Equatable {
    public var name: String
    public var baseURL: String
    public var apiKey: String?
    /// The environment variable the key comes from (named in a 401 when it was not set).
    public var apiKeyVariable: String?

    public init(name: String, baseURL: String, apiKey: String? = nil, apiKeyVariable: String? = nil) {
        self.name = name
        self.apiKeyVariable = apiKeyVariable
        var u = baseURL
        while u.hasSuffix("/") { u.removeLast() }
        self.baseURL = u
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A refused key says which key was (not) sent.
    func explain(_ e: RemoteError) -> RemoteError {
        guard case .unauthorized(let code, let m) = e, apiKey == nil else { return e }
        let hint = apiKeyVariable.map { "no API key sent: \($0) is not set" } ?? "no API key sent (config.json api_key_env names its variable)"
        return .unauthorized(code, m.isEmpty ? hint : "\(m); \(hint)")
    }

    func url(_ path: String) throws -> URL {
        guard let u = URL(string: baseURL + path), let scheme = u.scheme?.lowercased(),
            scheme == "http" || scheme == "https", u.host != nil
        else { throw RemoteError.badURL(baseURL) }
        return u
    }
}

/// A model an endpoint serves; `qualifiedName` (`ENDPOINT/MODEL_ID`) is what the app calls it.
public struct RemoteModel: Sendable, Equatable {
    public var endpoint: String
    public var id: String
    public var ownedBy: String?
    /// The context length when the server says (vLLM's `max_model_len`, llama-server's `meta.n_ctx_train`).
    public var contextLength: Int?
    public init(endpoint: String, id: String, ownedBy: String? = nil, contextLength: Int? = nil) {
        self.endpoint = endpoint; self.id = id; self.ownedBy = ownedBy; self.contextLength = contextLength
    }
    public var qualifiedName: String { "\(endpoint)/\(id)" }
}

/// What listing one endpoint gave.
public struct EndpointListing: Sendable {
    public var endpoint: RemoteEndpoint
    public var result: Result<[RemoteModel], RemoteError>
    /// Wall time of the request.
    public var seconds: Double
}
