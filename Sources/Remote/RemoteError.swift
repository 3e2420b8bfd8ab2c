import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Why a remote request failed, in one line a person can act on.
public enum RemoteError: Error, CustomStringConvertible, Equatable {
    case connectionRefused(String)
    case hostNotFound(String)
    case timeout(Double)
    case unauthorized(Int, String)
    case modelNotFound(String)
    case busy(String)
    case server(Int, String)
    case http(Int, String)
    case malformedEvent(String)
    /// The stream ended without its last event ([DONE] or a finish reason).
    case cut
    case badURL(String)
    case transport(String)

    public var description: String {
        switch self {
        case .connectionRefused(let url): return "connection refused at \(url) (is the server running?)"
        case .hostNotFound(let url): return "cannot resolve the host of \(url)"
        case .timeout(let s): return String(format: "no answer within %.1f s (timed out)", s)
        case .unauthorized(let code, let m): return "HTTP \(code): the endpoint refused the API key\(m.isEmpty ? "" : ": \(m)")"
        case .modelNotFound(let m): return "HTTP 404: model not found\(m.isEmpty ? "" : ": \(m)")"
        case .busy(let m): return "HTTP 429: the endpoint is busy or rate-limited, try again\(m.isEmpty ? "" : ": \(m)")"
        case .server(let code, let m): return "HTTP \(code): server error\(m.isEmpty ? "" : ": \(m)")"
        case .http(let code, let m): return "HTTP \(code)\(m.isEmpty ? "" : ": \(m)")"
        case .malformedEvent(let why): return "malformed stream event: \(why)"
        case .cut: return "the stream was cut mid-reply"
        case .badURL(let u): return "not a usable endpoint URL: \(u)"
        case .transport(let m): return m
        }
    }

    /// The error for a non-2xx answer; `body` is the server's (OpenAI's `{"error":{"message"}}`
    /// shape, or any text), trimmed to one short line.
    static func status(_ code: Int, body: Data) -> RemoteError {
        var message = String(decoding: body.prefix(2000), as: UTF8.self)
        if let obj = try? JSONSerialization.jsonObject(with: body) as? [String: Any] {
            if let e = obj["error"] as? [String: Any], let m = e["message"] as? String {
                message = m
            } else if let m = obj["error"] as? String {
                message = m
            } else if let m = obj["message"] as? String {
                message = m
            }
        }
        message = oneLine(message, limit: 160)
        switch code {
        case 401, 403: return .unauthorized(code, message)
        case 404: return .modelNotFound(message)
        case 429: return .busy(message)
        case 500...599: return .server(code, message)
        default: return .http(code, message)
        }
    }

    static func oneLine(_ s: String, limit: Int) -> String {
        let flat = s.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        return flat.count > limit ? String(flat.prefix(limit)) + "…" : flat
    }

    /// URLSession's errors (libcurl's underneath on Linux) in the words above.
    static func from(_ error: Error, url: String) -> RemoteError {
        if let r = error as? RemoteError { return r }
        if let u = error as? URLError {
            switch u.code {
            case .cannotConnectToHost: return .connectionRefused(url)
            case .cannotFindHost, .dnsLookupFailed: return .hostNotFound(url)
            case .timedOut: return .timeout(0)
            case .networkConnectionLost: return .cut
            case .badURL, .unsupportedURL: return .badURL(url)
            default: break
            }
        }
        // libcurl's words for a body that stopped before its end (CURLE_PARTIAL_FILE, a reset).
        let text = error.localizedDescription
        if text.contains("transfer closed") || text.contains("outstanding read data") || text.contains("reset by peer") {
            return .cut
        }
        return .transport(oneLine("\(url): \(text)", limit: 200))
    }
}
