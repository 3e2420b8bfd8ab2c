import Foundation
import XCTest

/// Runs the release binary as a user would, for the command tests: arguments, extra
/// environment, exit status and both output streams. The streams go through files, not
/// pipes: reading one pipe to its end while the other fills up would block both sides.
enum SparkchatRunner {
    typealias Result = (status: Int32, stdout: String, stderr: String)

    /// Skips the calling test when the binary has not been built.
    static func requireBinary() throws {
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else {
            throw XCTSkip("release binary not built at \(HeadlessCommandTests.binary)")
        }
    }

    static func run(_ args: [String], environment extra: [String: String] = [:]) throws -> Result {
        let tmp = FileManager.default.temporaryDirectory
        let out = tmp.appendingPathComponent("sc-out-\(UUID().uuidString)"), err = tmp.appendingPathComponent("sc-err-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: HeadlessCommandTests.binary)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        p.waitUntilExit()
        return (
            p.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self),
            String(decoding: try Data(contentsOf: err), as: UTF8.self)
        )
    }
}
