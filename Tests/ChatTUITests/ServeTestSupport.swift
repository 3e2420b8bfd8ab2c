import Foundation
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A `sparkchat serve --port 0` subprocess and plain HTTP against it.
final class ServerProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let logURL: URL

    struct Response {
        var status: Int
        var headers: [String: String]
        var data: Data
        var text: String { String(decoding: data, as: UTF8.self) }
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: data) as? [String: Any] }
        /// The payloads of a server-sent event stream (`data: X` lines).
        var events: [String] {
            text.components(separatedBy: "\n\n").compactMap { block in
                block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
            }
        }
    }

    private init(process: Process, port: Int, logURL: URL) { self.process = process; self.port = port; self.logURL = logURL }

    /// Starts the binary and waits for its `listening on http://127.0.0.1:PORT` line.
    static func start(_ extra: [String], env: [String: String] = [:]) throws -> ServerProcess {
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else {
            throw XCTSkip("release binary not built at \(HeadlessCommandTests.binary)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: HeadlessCommandTests.binary)
        p.arguments = ["serve", "--port", "0"] + extra
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: logURL)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the process ended
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening on http://127.0.0.1:"),
            let port = Int(text.dropFirst("listening on http://127.0.0.1:".count).prefix { $0.isNumber })
        else {
            p.terminate()
            throw NSError(
                domain: "ServeTests", code: 1,
                userInfo: [
                    NSLocalizedDescriptionKey:
                        "serve did not start: \(text) \((try? String(contentsOf: logURL, encoding: .utf8)) ?? "")"
                ])
        }
        return ServerProcess(process: p, port: port, logURL: logURL)
    }

    /// Runs the binary to its end (a serve that must fail to start): status and stderr.
    static func runToExit(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: HeadlessCommandTests.binary)
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// What the server logged on stderr so far.
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: logURL)
    }

    func request(_ method: String, _ path: String, json: [String: Any]) throws -> Response {
        try request(method, path, body: try JSONSerialization.data(withJSONObject: json))
    }

    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) throws -> Response {
        var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        r.httpMethod = method
        r.timeoutInterval = 120
        if let body {
            r.httpBody = body
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
        let done = DispatchSemaphore(value: 0)
        let result = Locked<Result<Response, Error>>(.failure(URLError(.timedOut)))
        URLSession.shared.dataTask(with: r) { data, response, error in
            if let http = response as? HTTPURLResponse {
                var h: [String: String] = [:]
                for (k, v) in http.allHeaderFields { h[String(describing: k).capitalizedHeader] = String(describing: v) }
                result.value = .success(Response(status: http.statusCode, headers: h, data: data ?? Data()))
            } else {
                result.value = .failure(error ?? URLError(.badServerResponse))
            }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 180)
        return try result.value.get()
    }

    static func rawRequest(_ method: String, _ path: String, json: [String: Any]) throws -> Data {
        let body = try JSONSerialization.data(withJSONObject: json)
        var d = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        d.append(body)
        return d
    }

    /// Sends bytes on a fresh connection and returns what comes back until it closes.
    func raw(_ bytes: Data) throws -> String {
        let c = try RawConnection(port: port)
        defer { c.close() }
        try c.send(bytes)
        return try c.receive(until: nil, timeout: 30)
    }
}

/// A value handed from a callback thread to the test's thread.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
    /// Changes the value in place under the lock (a read-modify-write from many threads).
    func update(_ change: (inout T) -> Void) { lock.lock(); change(&stored); lock.unlock() }
}

extension String {
    /// `content-type` and `Content-Type` alike, as `Content-Type`.
    fileprivate var capitalizedHeader: String { split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined(separator: "-") }
}

/// A TCP connection to loopback by hand: for bytes that are not HTTP, and for a client
/// that hangs up mid-stream.
final class RawConnection {
    private var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); throw POSIXError(.ECONNREFUSED) }
    }

    func send(_ data: Data) throws {
        try data.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.send(fd, buf.baseAddress! + off, buf.count - off, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw POSIXError(.EPIPE) }
                off += n
            }
        }
    }

    /// Reads until `marker` appears (nil: until the peer closes) or the timeout passes.
    func receive(until marker: String?, timeout: TimeInterval) throws -> String {
        var got = Data()
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 200) > 0 else { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            got.append(contentsOf: buf[0..<n])
            if let marker, String(decoding: got, as: UTF8.self).contains(marker) { break }
        }
        return String(decoding: got, as: UTF8.self)
    }

    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
