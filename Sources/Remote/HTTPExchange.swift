import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Time limits of one request: `connect` until the response headers arrive, `idle` between
/// two pieces of the body afterwards (a reply that streams for minutes is fine; a server
/// that goes silent is not).
public struct RemoteTimeouts: Sendable {
    public var connect: Double
    public var idle: Double
    public init(connect: Double, idle: Double) { self.connect = connect; self.idle = idle }
    /// Listing must not hold up `models` or the picker.
    public static let listing = RemoteTimeouts(connect: 1.5, idle: 1.5)
    /// A large model's answer can take a while to start: Ollama loads the model before it
    /// answers the first request, a CPU server reads a long prompt before the first token.
    /// Esc (or Ctrl-C) stops a wait sooner; the chat's switch to a remote model has
    /// already listed its endpoint within the listing's limit, so a dead host is caught there.
    public static let chat = RemoteTimeouts(connect: 120, idle: 300)
}

/// One HTTP request driven from the calling thread: URLSession (libcurl underneath on
/// Linux) delivers to a data delegate, the caller's thread picks the pieces up every
/// 50 ms, so it can cancel (Esc) and enforce its own time limits without depending on how
/// URLSession applies `timeoutInterval`.
final class HTTPExchange: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private let wake = DispatchSemaphore(value: 0)
    private var response: HTTPURLResponse?
    private var chunks: [Data] = []
    private var completed = false
    private var failure: Error?

    enum End { case completed, cancelled }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        lock.lock(); self.response = response as? HTTPURLResponse; lock.unlock()
        wake.signal()
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock(); chunks.append(data); lock.unlock()
        wake.signal()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock(); completed = true; failure = error; lock.unlock()
        wake.signal()
    }

    private func take() -> (HTTPURLResponse?, [Data], Bool, Error?) {
        lock.lock(); defer { lock.unlock() }
        let c = chunks; chunks = []
        return (response, c, completed, failure)
    }

    /// Sends `request` and hands each piece of a 2xx body to `onData` as it arrives. A non-2xx
    /// answer becomes RemoteError.status (its body read first, bounded); an error thrown by
    /// `onData` cancels the request and is rethrown. Returns `.cancelled` when
    /// `isCancelled` turned true first.
    static func perform(
        _ request: URLRequest, timeouts: RemoteTimeouts, isCancelled: () -> Bool = { false },
        onData: (Data) throws -> Void
    ) throws -> End {
        let exchange = HTTPExchange()
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = max(timeouts.connect, timeouts.idle) + 5  // ours fire first
        let session = URLSession(configuration: configuration, delegate: exchange, delegateQueue: queue)
        let task = session.dataTask(with: request)
        defer { session.invalidateAndCancel() }
        let url = request.url?.absoluteString ?? "?"
        task.resume()
        var status: Int?
        var errorBody = Data()
        var lastActivity = Date()
        while true {
            _ = exchange.wake.wait(timeout: .now() + .milliseconds(50))
            if isCancelled() { task.cancel(); return .cancelled }
            let (response, pieces, done, failure) = exchange.take()
            if status == nil, let r = response { status = r.statusCode; lastActivity = Date() }
            if !pieces.isEmpty {
                lastActivity = Date()
                for p in pieces {
                    if let s = status, !(200..<300).contains(s) {
                        if errorBody.count < 65536 { errorBody.append(p) }
                        continue
                    }
                    do { try onData(p) } catch { task.cancel(); throw error }
                }
            }
            if done {
                if let s = status, !(200..<300).contains(s) { throw RemoteError.status(s, body: errorBody) }
                if let f = failure {
                    let e = RemoteError.from(f, url: url)
                    throw e == .timeout(0) ? RemoteError.timeout(status == nil ? timeouts.connect : timeouts.idle) : e
                }
                return .completed
            }
            let limit = status == nil ? timeouts.connect : timeouts.idle
            if Date().timeIntervalSince(lastActivity) > limit { task.cancel(); throw RemoteError.timeout(limit) }
        }
    }

    /// The whole body of a short answer (bounded: a listing is not megabytes).
    static func fetch(_ request: URLRequest, timeouts: RemoteTimeouts, limit: Int = 16 << 20) throws -> Data {
        var body = Data()
        _ = try perform(request, timeouts: timeouts) { piece in
            body.append(piece)
            if body.count > limit { throw RemoteError.transport("the answer is over \(limit >> 20) MB") }
        }
        return body
    }
}
