/// An error answered in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
/// Clients (the official SDKs among them) read `message` and map the status to an
/// exception class, so the status matters as much as the text.
public struct APIError: Error, Equatable, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
    }

    static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }
    static func modelNotFound(_ name: String) -> APIError {
        APIError(
            status: 404, message: "The model '\(name)' does not exist (see GET /v1/models)",
            type: "invalid_request_error", param: "model", code: "model_not_found")
    }
    static func notFound(_ method: String, _ path: String) -> APIError {
        APIError(status: 404, message: "Unknown route: \(method) \(path)", type: "invalid_request_error", code: "unknown_url")
    }
    static func methodNotAllowed(_ method: String, _ path: String) -> APIError {
        APIError(status: 405, message: "\(method) is not allowed on \(path)", type: "invalid_request_error", code: "method_not_allowed")
    }
    static func tooLarge(limit: Int) -> APIError {
        APIError(
            status: 413, message: "Request body is over the limit of \(limit) bytes", type: "invalid_request_error",
            code: "request_too_large")
    }
    static let unauthorized = APIError(
        status: 401, message: "Missing or wrong API key: send 'Authorization: Bearer KEY'",
        type: "invalid_request_error", code: "invalid_api_key")
    static func busy(waiting: Int) -> APIError {
        APIError(
            status: 429, message: "The server is busy: \(waiting) requests are already waiting; retry later",
            type: "rate_limit_error", code: "queue_full")
    }
    static func server(_ message: String) -> APIError {
        APIError(status: 500, message: message, type: "server_error")
    }

    var json: String {
        JSONText.object([
            (
                "error",
                JSONText.object([
                    ("message", JSONText.string(message)), ("type", JSONText.string(type)),
                    ("param", param.map(JSONText.string) ?? "null"), ("code", code.map(JSONText.string) ?? "null")
                ])
            )
        ])
    }
}
