import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// How a server listens and what it accepts.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Required as `Authorization: Bearer KEY` on every route but /health; nil: none.
    public var apiKey: String?
    /// A request body over this is answered 413 (prompts of a full 32K context are ~150 KB).
    public var maxBodyBytes = 4 << 20
    /// Requests that may wait per model while one runs; one more is answered 429.
    public var maxWaiting = 16
    public var logRequests = true
    public init() {}
}

/// What every connection shares: the configuration and the models.
final class ServerState: @unchecked Sendable {
    let config: ServerConfiguration
    let registry: ModelRegistry
    private let logLock = NSLock()

    init(config: ServerConfiguration, registry: ModelRegistry) { self.config = config; self.registry = registry }

    func log(_ line: String) {
        guard config.logRequests else { return }
        logLock.lock(); defer { logLock.unlock() }
        FileHandle.standardError.write("serve: \(line)\n".data(using: .utf8)!)
    }

    /// Compares keys in time independent of where they differ (no timing oracle).
    static func sameKey(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }
}

/// The OpenAI-compatible HTTP server: SwiftNIO's HTTP/1.1 pipeline (with pipelining
/// assistance and protocol-error handling) and one `OpenAIHandler` per connection.
/// Network I/O takes one event-loop thread; the work is on the models' workers.
public final class OpenAIServer: @unchecked Sendable {
    private let state: ServerState
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: Channel?

    public init(config: ServerConfiguration, registry: ModelRegistry) {
        state = ServerState(config: config, registry: registry)
    }

    /// Binds and returns the port it listens on (the free one chosen for port 0).
    public func start() throws -> Int {
        let state = self.state
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(OpenAIHandler(server: state))
                }
            }
        let ch = try bootstrap.bind(host: state.config.host, port: state.config.port).wait()
        channel = ch
        return ch.localAddress?.port ?? state.config.port
    }

    /// Blocks until the server is closed (or forever).
    public func wait() throws {
        try channel?.closeFuture.wait()
        try group.syncShutdownGracefully()
    }
}
