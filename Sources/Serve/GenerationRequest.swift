import Foundation
import Inference

/// Which OpenAI endpoint a request came in on: they differ in the prompt (messages or
/// raw text), the defaults and the response's shape.
public enum Endpoint: Sendable { case chat, completion }

/// A validated `/v1/chat/completions` or `/v1/completions` body. Every field is checked
/// for type and range here, so that a bad request is a 400 naming the field before it
/// waits in any queue.
struct GenerationRequest {
    var endpoint: Endpoint
    var model: String?
    var messages: [ChatMessage] = []
    var prompt = ""
    /// temperature, top_p, max_tokens, seed, presence/frequency penalties and stop.
    var sampling = SamplingOverrides()
    var stream = false
    var includeUsage = false

    /// The served model's defaults for this endpoint, then what the request says.
    func parameters(defaults: SamplingParameters) -> SamplingParameters { sampling.applied(to: defaults) }

    static func parse(_ body: Data, endpoint: Endpoint) throws -> GenerationRequest {
        guard let json = JSONValue.parse(body) else {
            throw APIError.invalid("The request body is not valid JSON", code: "invalid_json")
        }
        guard case .object(let o) = json else {
            throw APIError.invalid("The request body must be a JSON object, not \(json.typeName)")
        }
        var f = Fields(o)
        var r = GenerationRequest(endpoint: endpoint)
        r.model = try f.string("model")
        switch endpoint {
        case .chat:
            r.messages = try messages(f.value("messages"))
            r.sampling.maxTokens = try f.int("max_completion_tokens", min: 1) ?? f.int("max_tokens", min: 1)
        case .completion:
            r.prompt = try prompt(f.value("prompt"))
            r.sampling.maxTokens = try f.int("max_tokens", min: 1)
        }
        r.sampling.temperature = try f.number("temperature", in: 0...2)
        r.sampling.topP = try f.number("top_p", in: 0...1)
        if r.sampling.topP == 0 { throw APIError.invalid("'top_p' must be above 0", param: "top_p") }
        r.sampling.presencePenalty = try f.number("presence_penalty", in: -2...2)
        r.sampling.frequencyPenalty = try f.number("frequency_penalty", in: -2...2)
        if let s = try f.int("seed") { r.sampling.seed = UInt64(bitPattern: Int64(s)) }
        r.sampling.stop = try stops(f.value("stop"))
        r.stream = try f.bool("stream") ?? false
        if let n = try f.int("n", min: 1), n != 1 {
            throw APIError.invalid("Only n=1 is supported", param: "n")
        }
        if let so = f.value("stream_options") {
            guard case .object(let opts) = so else { throw Fields.wrongType("stream_options", "object", so) }
            var sf = Fields(opts, prefix: "stream_options.")
            r.includeUsage = try sf.bool("include_usage") ?? false
        }
        return r
    }

    private static func messages(_ value: JSONValue?) throws -> [ChatMessage] {
        guard let value else { throw APIError.invalid("'messages' is required", param: "messages") }
        guard case .array(let items) = value else { throw Fields.wrongType("messages", "array", value) }
        guard !items.isEmpty else { throw APIError.invalid("'messages' must not be empty", param: "messages") }
        return try items.enumerated().map { i, item in
            let name = "messages[\(i)]"
            guard case .object(let m) = item else { throw Fields.wrongType(name, "object", item) }
            var f = Fields(m, prefix: name + ".")
            guard let roleName = try f.string("role") else { throw APIError.invalid("'\(name).role' is required", param: name + ".role") }
            let role: ChatMessage.Role
            switch roleName {
            case "system", "developer": role = .system
            case "user": role = .user
            case "assistant": role = .model
            default:
                throw APIError.invalid(
                    "'\(name).role' must be system, developer, user or assistant, not '\(roleName)'",
                    param: name + ".role")
            }
            return ChatMessage(role: role, text: try content(f.value("content"), name: name + ".content"))
        }
    }

    /// A message's content: a string, null (an assistant turn with no text) or an array
    /// of text parts; other parts (images, audio) are not something this engine reads.
    private static func content(_ value: JSONValue?, name: String) throws -> String {
        switch value {
        case nil, .null?: return ""
        case .string(let s)?: return s
        case .array(let parts)?:
            return try parts.enumerated().map { i, part -> String in
                guard case .object(let p) = part, case .string("text")? = p["type"], case .string(let t)? = p["text"] else {
                    throw APIError.invalid("'\(name)[\(i)]' must be a text part {\"type\":\"text\",\"text\":...}", param: name)
                }
                return t
            }.joined(separator: "\n")
        case let v?: throw Fields.wrongType(name, "string or array", v)
        }
    }

    private static func prompt(_ value: JSONValue?) throws -> String {
        switch value {
        case nil: throw APIError.invalid("'prompt' is required", param: "prompt")
        case .string(let s)?: return s
        case .array(let a)? where a.count == 1:
            guard case .string(let s) = a[0] else { throw Fields.wrongType("prompt[0]", "string", a[0]) }
            return s
        case .array?: throw APIError.invalid("'prompt' must be one string (batches are not supported)", param: "prompt")
        case let v?: throw Fields.wrongType("prompt", "string", v)
        }
    }

    /// `stop`: a string or an array of up to 4 (OpenAI's limit) non-empty strings.
    private static func stops(_ value: JSONValue?) throws -> [String] {
        let list: [JSONValue]
        switch value {
        case nil, .null?: return []
        case .string(let s)?: list = [.string(s)]
        case .array(let a)?: list = a
        case let v?: throw Fields.wrongType("stop", "string or array", v)
        }
        guard list.count <= 4 else { throw APIError.invalid("'stop' takes at most 4 strings", param: "stop") }
        return try list.map {
            guard case .string(let s) = $0 else { throw Fields.wrongType("stop", "string or array of strings", $0) }
            guard !s.isEmpty else { throw APIError.invalid("'stop' strings must not be empty", param: "stop") }
            return s
        }
    }
}

/// Typed reads of an object's fields; null counts as absent, as OpenAI's API treats it.
struct Fields {
    let object: [String: JSONValue]
    let prefix: String
    init(_ object: [String: JSONValue], prefix: String = "") { self.object = object; self.prefix = prefix }

    func value(_ key: String) -> JSONValue? {
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    static func wrongType(_ name: String, _ expected: String, _ got: JSONValue) -> APIError {
        let article = "aeiou".contains(expected.first!) ? "an" : "a"
        return .invalid("'\(name)' must be \(article) \(expected), not \(got.typeName)", param: name, code: "invalid_type")
    }

    mutating func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw Fields.wrongType(prefix + key, "string", v) }
        return s
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw Fields.wrongType(prefix + key, "boolean", v) }
        return b
    }

    mutating func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.number else { throw Fields.wrongType(prefix + key, "number", v) }
        guard range.contains(d) else {
            throw APIError.invalid(
                "'\(prefix + key)' must be between \(JSONText.number(range.lowerBound)) and \(JSONText.number(range.upperBound))",
                param: prefix + key)
        }
        return d
    }

    mutating func int(_ key: String, min: Int64 = .min) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard case .int(let i) = v else { throw Fields.wrongType(prefix + key, "integer", v) }
        guard i >= min else { throw APIError.invalid("'\(prefix + key)' must be at least \(min)", param: prefix + key) }
        return Int(i)
    }
}
