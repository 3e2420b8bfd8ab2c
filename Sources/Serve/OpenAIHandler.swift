import Foundation
import Inference
import NIOCore
import NIOHTTP1

/// One HTTP connection: reads a request (bounded), routes it, and writes the answer:
/// a JSON object, or for `stream: true` server-sent events as the worker produces
/// tokens. Everything here runs on the connection's event loop; the model's worker
/// reaches it only through `ConnectionSink`, which hops onto that loop.
final class OpenAIHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ServerState
    private var context: ChannelHandlerContext?
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var bodyBytes = 0
    private var overLimit = false
    private var exchange: Exchange?

    /// The request being generated, and how its answer is being written.
    private final class Exchange {
        let job: GenerationJob
        let format: ResponseFormat
        let started = Date()
        var streamOpen = false
        var text = ""
        var totals = TokenTotals()
        init(job: GenerationJob, format: ResponseFormat) { self.job = job; self.format = format }
    }

    init(server: ServerState) { self.server = server }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// A client that goes away stops its generation (queued or running): its tokens
    /// would be written to nobody while others wait.
    func channelInactive(context: ChannelHandlerContext) {
        exchange?.job.cancel.cancel()
        exchange = nil
        self.context = nil
        context.fireChannelInactive()
    }

    /// Bytes that are not HTTP: NIO's protocol-error handler (before this one) has
    /// answered 400 with `Connection: close`; the door is shut here.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        exchange?.job.cancel.cancel()
        exchange = nil
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            bodyBytes = 0
            overLimit = false
            if let declared = h.headers.first(name: "content-length").flatMap({ Int($0) }), declared > server.config.maxBodyBytes {
                overLimit = true
                // Far over: answer now and close rather than read it all.
                if declared > server.config.maxBodyBytes * 16 { respond(error: .tooLarge(limit: server.config.maxBodyBytes), close: true) }
            }
        case .body(var chunk):
            guard head != nil else { return }
            bodyBytes += chunk.readableBytes
            if bodyBytes > server.config.maxBodyBytes { overLimit = true; body.clear() }
            if overLimit {
                // Read (and drop) the rest, so the client is reading when the 413 comes,
                // unless it goes on far past the limit.
                if bodyBytes > server.config.maxBodyBytes * 16 { respond(error: .tooLarge(limit: server.config.maxBodyBytes), close: true) }
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let h = head else { return }
            if overLimit {
                respond(error: .tooLarge(limit: server.config.maxBodyBytes), close: true)
            } else {
                route(h)
            }
        }
    }

    // MARK: routing

    private func route(_ h: HTTPRequestHead) {
        let path = String(h.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        if !(h.method == .GET && path == "/health"), let key = server.config.apiKey {
            let given = h.headers.first(name: "authorization") ?? ""
            guard ServerState.sameKey(given, "Bearer " + key) else { return respond(error: .unauthorized) }
        }
        switch (h.method, path) {
        case (.GET, "/health"):
            respond(
                status: .ok,
                json: JSONText.object([
                    ("status", JSONText.string("ok")),
                    ("model", JSONText.string(server.registry.defaultId)),
                    ("waiting", String(server.registry.waiting)),
                    ("running", String(server.registry.running))
                ]))
        case (.GET, "/v1/models"):
            respond(
                status: .ok,
                json: JSONText.object([
                    ("object", JSONText.string("list")),
                    ("data", JSONText.array(server.registry.catalog.map(modelObject)))
                ]))
        case (.GET, _) where path.hasPrefix("/v1/models/"):
            let name = String(path.dropFirst("/v1/models/".count)).removingPercentEncoding ?? ""
            if let m = server.registry.entry(named: name) { respond(status: .ok, json: modelObject(m)) } else { respond(error: .modelNotFound(name)) }
        case (.POST, "/v1/chat/completions"): generate(.chat)
        case (.POST, "/v1/completions"): generate(.completion)
        case (_, "/health"), (_, "/v1/models"), (_, "/v1/chat/completions"), (_, "/v1/completions"):
            respond(error: .methodNotAllowed(h.method.rawValue, path))
        default:
            respond(error: .notFound(h.method.rawValue, path))
        }
    }

    private func modelObject(_ m: CatalogModel) -> String {
        JSONText.object([
            ("id", JSONText.string(m.id)), ("object", JSONText.string("model")), ("created", String(m.created)),
            ("owned_by", JSONText.string("sparkchat")), ("context_length", String(m.contextLength))
        ])
    }

    private func generate(_ endpoint: Endpoint) {
        let request: GenerationRequest
        do {
            request = try GenerationRequest.parse(Data(body.readableBytesView), endpoint: endpoint)
        } catch let e as APIError {
            return respond(error: e)
        } catch {
            return respond(error: .server("\(error)"))
        }
        guard let worker = server.registry.worker(for: request.model) else {
            return respond(error: .modelNotFound(request.model ?? ""))
        }
        guard let loop = context?.eventLoop else { return }
        let sink = ConnectionSink(loop: loop, handler: self, server: server)
        let job = GenerationJob(request: request, sink: sink)
        sink.job = job
        guard worker.submit(job) else { return respond(error: .busy(waiting: worker.maxWaiting)) }
        exchange = Exchange(job: job, format: ResponseFormat(endpoint: endpoint, model: worker.id))
    }

    // MARK: job events (on the event loop, from ConnectionSink)

    private func current(_ job: GenerationJob) -> Exchange? {
        guard let x = exchange, x.job === job, context != nil else { return nil }
        return x
    }

    func jobStarted(_ job: GenerationJob) {
        guard let x = current(job), x.job.request.stream, let context else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head?.version ?? .http1_1, status: .ok, headers: headers))),
            promise: nil)
        x.streamOpen = true
        if let role = x.format.roleChunk() { sendEvent(role) } else { context.flush() }
    }

    func jobToken(_ job: GenerationJob, _ t: TokenEvent) {
        guard let x = current(job) else { return }
        x.totals.add(t.stats)
        if x.streamOpen {
            sendEvent(x.format.tokenChunk(t))
        } else {
            x.text += t.text
        }
    }

    func jobFinished(_ job: GenerationJob, _ s: GenerationSummary) {
        guard let x = current(job) else { return }
        exchange = nil
        log(
            "\(x.format.endpoint == .chat ? "chat" : "completion") \(x.format.model): \(s.promptTokens) prompt + \(s.generatedTokens) tokens, \(s.stopReason.rawValue), \(String(format: "%.2f", Date().timeIntervalSince(x.started))) s"
        )
        if x.streamOpen {
            sendEvent(x.format.finalChunk(s, totals: x.totals))
            if x.job.request.includeUsage { sendEvent(x.format.usageChunk(s)) }
            sendEvent("[DONE]")
            endStream()
        } else {
            respond(status: .ok, json: x.format.complete(text: x.text, summary: s, totals: x.totals))
        }
    }

    func jobFailed(_ job: GenerationJob, _ error: APIError) {
        guard let x = current(job) else { return }
        exchange = nil
        if x.streamOpen {
            // The status is sent already: the error goes as an event, as OpenAI's does.
            sendEvent(error.json)
            sendEvent("[DONE]")
            endStream()
        } else {
            respond(error: error)
        }
    }

    // MARK: writing

    private func sendEvent(_ payload: String) {
        guard let context else { return }
        var buf = context.channel.allocator.buffer(capacity: payload.utf8.count + 8)
        buf.writeString("data: ")
        buf.writeString(payload)
        buf.writeString("\n\n")
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
    }

    private func endStream() {
        guard let context else { return }
        let keepAlive = head?.isKeepAlive ?? false
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    private func respond(error: APIError, close: Bool = false) {
        if error.status >= 500 || error.status == 429 || error.status == 413 || error.status == 401 {
            log("\(head?.method.rawValue ?? "?") \(head?.uri ?? "?"): \(error.status) \(error.message)")
        }
        respond(status: HTTPResponseStatus(statusCode: error.status), json: error.json, close: close)
    }

    private func respond(status: HTTPResponseStatus, json: String, close: Bool = false) {
        guard let context else { return }
        let closeAfter = close || !(head?.isKeepAlive ?? false)
        var buf = context.channel.allocator.buffer(capacity: json.utf8.count + 1)
        buf.writeString(json)
        buf.writeString("\n")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(buf.readableBytes))
        if closeAfter { headers.add(name: "Connection", value: "close") }
        if status == .tooManyRequests { headers.add(name: "Retry-After", value: "1") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head?.version ?? .http1_1, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if closeAfter { context.close(promise: nil) }
        }
        if close { head = nil }
    }

    private func log(_ line: String) { server.log(line) }
}

/// Carries a job's events from the model's worker thread onto its connection's loop.
final class ConnectionSink: JobSink, @unchecked Sendable {
    let loop: EventLoop
    let handler: OpenAIHandler
    let server: ServerState
    weak var job: GenerationJob?

    init(loop: EventLoop, handler: OpenAIHandler, server: ServerState) {
        self.loop = loop; self.handler = handler; self.server = server
    }

    private func onLoop(_ body: @escaping @Sendable (OpenAIHandler, GenerationJob) -> Void) {
        guard let job else { return }
        let handler = self.handler
        loop.execute { body(handler, job) }
    }

    func started(promptTokens: Int) { onLoop { $0.jobStarted($1) } }
    func token(_ event: TokenEvent) { onLoop { $0.jobToken($1, event) } }
    func finished(_ summary: GenerationSummary) {
        if summary.stopReason == .cancelled {
            server.log("cancelled after \(summary.generatedTokens) tokens: the client went away")
        }
        onLoop { $0.jobFinished($1, summary) }
    }
    func failed(_ error: APIError) { onLoop { $0.jobFailed($1, error) } }
}
