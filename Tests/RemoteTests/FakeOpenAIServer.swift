import Foundation
import XCTest

/// Tests/Fixtures/remote/fake_openai_server.py on a free loopback port, for as long as
/// the test holds it (the model id picks the behaviour; see the script).
final class FakeOpenAIServer {
    let process = Process()
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/remote/fake_openai_server.py").path
    }

    init(arguments: [String] = []) throws {
        guard
            let python = ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"]
                .first(where: FileManager.default.isExecutableFile(atPath:))
        else { throw XCTSkip("python3 is not installed") }
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [FakeOpenAIServer.script] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is "PORT <n>".
        var line = Data()
        let deadline = Date().addingTimeInterval(10)
        while !line.contains(UInt8(ascii: "\n")) && Date() < deadline {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("PORT "), let p = Int(text.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw NSError(domain: "FakeOpenAIServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "no port: \(text)"])
        }
        port = p
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    deinit { stop() }

    /// A loopback port nothing listens on (bound, then closed).
    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
