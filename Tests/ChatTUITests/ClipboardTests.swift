import Foundation
import XCTest

@testable import ChatTUI

/// The clipboard programs are stood in for by shell scripts on a private PATH, so the
/// tests see exactly what the chat sends them and how it reads their exit status.
final class ClipboardTests: XCTestCase {
    var bin: URL!

    override func setUpWithError() throws {
        bin = FileManager.default.temporaryDirectory.appendingPathComponent("sc-clip-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
    }

    override func tearDown() { if let b = bin { try? FileManager.default.removeItem(at: b) } }

    func tool(_ name: String, _ body: String) throws {
        let p = bin.appendingPathComponent(name)
        try Data("#!/bin/sh\n\(body)\n".utf8).write(to: p)
        chmod(p.path, 0o755)
    }

    func env(_ extra: [String: String]) -> [String: String] { extra.merging(["PATH": bin.path]) { a, _ in a } }

    func testCandidatesFollowTheDisplay() {
        XCTAssertEqual(Clipboard.candidates(environment: [:]).map(\.name), ["pbcopy"])
        XCTAssertEqual(Clipboard.candidates(environment: ["DISPLAY": ":0"]).map(\.name), ["xclip", "xsel", "pbcopy"])
        XCTAssertEqual(
            Clipboard.candidates(environment: ["WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"]).map(\.name),
            ["wl-copy", "xclip", "xsel", "pbcopy"])
    }

    func testTheFirstWorkingToolGetsTheTextOnStdin() throws {
        let out = bin.appendingPathComponent("got")
        try tool("xclip", "[ \"$1 $2\" = \"-selection clipboard\" ] || exit 9\n/bin/cat > '\(out.path)'")
        let text = "line one\nčetiri 😀\n" + String(repeating: "z", count: 300_000)  // more than a pipe buffer
        let o = Clipboard.copyWithTool(text, environment: env(["DISPLAY": ":0"]))
        XCTAssertEqual(o, Clipboard.Outcome(copiedWith: "xclip", failures: []))
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), text)
        XCTAssertEqual(Clipboard.notice("the last reply (3 characters)", outcome: o, textBytes: 3), "copied the last reply (3 characters) with xclip")
    }

    func testAFailingToolFallsThroughAndTheNoticeSaysSo() throws {
        let out = bin.appendingPathComponent("got")
        try tool("xclip", "/bin/cat > /dev/null; exit 1")
        try tool("xsel", "/bin/cat > '\(out.path)'")
        let o = Clipboard.copyWithTool("hi", environment: env(["DISPLAY": ":0"]))
        XCTAssertEqual(o.copiedWith, "xsel")
        XCTAssertEqual(o.failures, ["xclip failed (exit status 1)"])
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "hi")

        try FileManager.default.removeItem(at: bin.appendingPathComponent("xsel"))
        let only = Clipboard.copyWithTool("hi", environment: env(["DISPLAY": ":0"]))
        XCTAssertNil(only.copiedWith)
        XCTAssertEqual(
            Clipboard.notice("x", outcome: only, textBytes: 2),
            "xclip failed (exit status 1); sent x to the terminal via OSC 52 (works if your terminal allows clipboard writes)")
    }

    func testNoToolMeansOSC52OnlyAndNoClaimOfSuccess() {
        let o = Clipboard.copyWithTool("hi", environment: env([:]))
        XCTAssertEqual(o, Clipboard.Outcome(copiedWith: nil, failures: []))
        let n = Clipboard.notice("the last reply (2 characters)", outcome: o, textBytes: 2)
        XCTAssertEqual(n, "sent the last reply (2 characters) to the terminal via OSC 52 (works if your terminal allows clipboard writes)")
        XCTAssertFalse(n.contains("copied"))
        XCTAssertTrue(Clipboard.notice("it", outcome: o, textBytes: Clipboard.maxBytes + 1).contains("its first 74 kB"))
    }

    func testAHungToolIsKilledAtTheTimeout() throws {
        try tool("wl-copy", "exec /bin/sleep 30")  // never reads stdin, never exits
        try tool("xclip", "exec /bin/sleep 30")
        let start = Date()
        let o = Clipboard.copyWithTool(String(repeating: "a", count: 1 << 20), environment: env(["WAYLAND_DISPLAY": "w", "DISPLAY": ":0"]), timeout: 0.3)
        let took = Date().timeIntervalSince(start)
        XCTAssertNil(o.copiedWith)
        XCTAssertEqual(o.failures, ["wl-copy did not finish within 0.3 s"], "after one hung program the others are not tried")
        XCTAssertLessThan(took, 2, "the UI waits at most about the timeout")
    }

    func testOSC52CutsOnACharacterBoundary() {
        let text = String(repeating: "é", count: Clipboard.maxBytes)  // two bytes each
        let payload = Clipboard.osc52Payload(text)
        XCTAssertLessThanOrEqual(payload.count, Clipboard.maxBytes)
        XCTAssertNotNil(String(data: payload, encoding: .utf8), "valid UTF-8 after the cut")
        XCTAssertTrue(Clipboard.osc52("hi").hasPrefix("\u{1b}]52;c;aGk="))
    }
}
