import Foundation
import XCTest

@testable import Remote

/// The client against a fake OpenAI-compatible server on loopback: listing, streaming,
/// every failure the chat must survive, and cancelling.
final class RemoteClientTests: XCTestCase {
    var server: FakeOpenAIServer!
    var lab: RemoteEndpoint { RemoteEndpoint(name: "lab", baseURL: server.baseURL + "/") }

    override func setUpWithError() throws { server = try FakeOpenAIServer() }
    override func tearDown() { server?.stop() }

    private func chat(
        _ model: String, _ text: String = "hello", timeouts: RemoteTimeouts = .chat,
        endpoint: RemoteEndpoint? = nil, cancelAfter: Int? = nil
    ) -> (String, [StreamEvent], Result<StreamOutcome, Error>) {
        var c = CompletionRequest(model: model, input: .chat([("system", "be brief"), ("user", text)]))
        c.temperature = 0; c.maxTokens = 64
        var text = "", events: [StreamEvent] = []
        let result = Result {
            try RemoteClient.stream(
                endpoint ?? lab, c, timeouts: timeouts,
                isCancelled: { cancelAfter.map { events.count >= $0 } ?? false }
            ) { e in
                events.append(e)
                if case .text(let t, _) = e { text += t }
            }
        }
        return (text, events, result)
    }

    private func error(_ r: Result<StreamOutcome, Error>) -> RemoteError? {
        if case .failure(let e) = r { return e as? RemoteError }
        return nil
    }

    func testListingNamesEveryModelWithItsEndpoint() {
        let l = RemoteClient.listModels(lab)
        let models = try? l.result.get()
        XCTAssertEqual(models?.first?.qualifiedName, "lab/echo")
        XCTAssertEqual(models?.first?.contextLength, 4096)
        XCTAssertTrue(models?.contains { $0.id == "slow" } == true)
    }

    func testUnreachableEndpointsAreListedQuicklyAndConcurrently() throws {
        let slow = try FakeOpenAIServer(arguments: ["--models-delay", "10"])
        defer { slow.stop() }
        let endpoints = [
            lab, RemoteEndpoint(name: "refused", baseURL: "http://127.0.0.1:\(FakeOpenAIServer.closedPort())/v1"),
            RemoteEndpoint(name: "silent", baseURL: slow.baseURL),
            RemoteEndpoint(name: "nodns", baseURL: "http://no-such-host.invalid/v1")
        ]
        let t0 = Date()
        let listings = RemoteClient.listModels(endpoints, timeouts: .listing)
        let seconds = Date().timeIntervalSince(t0)
        XCTAssertLessThan(seconds, 2.5, "the silent endpoint is cut at the listing limit, all asked at once")
        XCTAssertNotNil(try? listings[0].result.get())
        guard case .failure(.connectionRefused) = listings[1].result else { return XCTFail("\(listings[1].result)") }
        guard case .failure(.timeout) = listings[2].result else { return XCTFail("\(listings[2].result)") }
        guard case .failure(.hostNotFound) = listings[3].result else { return XCTFail("\(listings[3].result)") }
    }

    func testStreamsTheReplyWithUsageAndFinish() {
        let (text, events, result) = chat("echo", "how are you")
        XCTAssertEqual(text, "echo of 2 messages (system,user): how are you")
        XCTAssertEqual(try? result.get(), StreamOutcome(finishReason: "stop", cancelled: false))
        XCTAssertEqual(events.last, .usage(promptTokens: 5, completionTokens: 8))
        XCTAssertGreaterThan(events.count, 5, "pieces arrive one by one")
    }

    func testRawCompletionAndServerStats() throws {
        var c = CompletionRequest(model: "sparky", input: .prompt("once upon"))
        c.maxTokens = 2
        var pieces: [(String, ServerTokenStats?)] = []
        let outcome = try RemoteClient.stream(lab, c) { if case .text(let t, let s) = $0 { pieces.append((t, s)) } }
        XCTAssertEqual(pieces.map(\.0), ["echo:", " once"])
        XCTAssertEqual(pieces.first?.1, ServerTokenStats(ffnActive: 100, ffnTotal: 400, attended: 10, flops: 1e6, flopsDense: 2e6))
        XCTAssertEqual(outcome.finishReason, "length")
    }

    func testHTTPErrorsBecomeOneLineErrors() {
        let cases: [(String, (RemoteError) -> Bool)] = [
            (
                "error-401",
                {
                    if case .unauthorized(401, let m) = $0 { return m.hasPrefix("invalid api key; no API key sent") }; return false
                }
            ),
            (
                "error-403",
                {
                    if case .unauthorized(403, _) = $0 { return true }; return false
                }
            ),
            (
                "error-429",
                {
                    if case .busy = $0 { return true }; return false
                }
            ),
            (
                "error-500",
                {
                    if case .server(500, "internal error") = $0 { return true }; return false
                }
            ),
            (
                "error-503",
                {
                    if case .server(503, _) = $0 { return true }; return false
                }
            ),
            (
                "no-such-model",
                {
                    if case .modelNotFound(let m) = $0 { return m.contains("no-such-model") }; return false
                }
            )
        ]
        for (model, matches) in cases {
            let (text, _, result) = chat(model)
            XCTAssertEqual(text, "")
            guard let e = error(result) else { XCTFail("\(model): no error"); continue }
            XCTAssertTrue(matches(e), "\(model): \(e)")
            XCTAssertFalse(e.description.contains("\n"))
        }
    }

    func testMissingAPIKeyIsRefusedAndTheRightOneAccepted() throws {
        let keyed = try FakeOpenAIServer(arguments: ["--api-key", "sekrit"])
        defer { keyed.stop() }
        let unset = RemoteEndpoint(name: "k", baseURL: keyed.baseURL, apiKeyVariable: "LAB_KEY")
        guard case .failure(let e) = RemoteClient.listModels(unset).result, case .unauthorized(401, _) = e else {
            return XCTFail("no key: not refused")
        }
        XCTAssertEqual(e.description, "HTTP 401: the endpoint refused the API key: invalid api key; no API key sent: LAB_KEY is not set")
        let wrong = RemoteEndpoint(name: "k", baseURL: keyed.baseURL, apiKey: "guess")
        guard case .failure(.unauthorized(401, "invalid api key")) = RemoteClient.listModels(wrong).result else {
            return XCTFail("wrong key: not refused")
        }
        let ok = RemoteClient.listModels(RemoteEndpoint(name: "k", baseURL: keyed.baseURL, apiKey: "sekrit"))
        XCTAssertEqual((try? ok.result.get())?.count, 11)
    }

    func testConnectionRefusedAndUnresolvableHost() {
        let refused = RemoteEndpoint(name: "x", baseURL: "http://127.0.0.1:\(FakeOpenAIServer.closedPort())/v1")
        guard case .connectionRefused = error(chat("echo", endpoint: refused).2) else { return XCTFail() }
        let nodns = RemoteEndpoint(name: "x", baseURL: "http://no-such-host.invalid/v1")
        guard case .hostNotFound = error(chat("echo", endpoint: nodns).2) else { return XCTFail() }
    }

    /// A stream cut mid-reply, a malformed event, a server gone silent: the text that came
    /// first was delivered, then the error.
    func testCutMalformedAndSilentStreamsKeepTheirPartialText() {
        let cut = chat("cut")
        XCTAssertEqual(cut.0, "partial reply so")
        XCTAssertEqual(error(cut.2), .cut)
        let bad = chat("malformed")
        XCTAssertEqual(bad.0, "good start")
        guard case .malformedEvent = error(bad.2) else { return XCTFail("\(bad.2)") }
        let t0 = Date()
        let silent = chat("stall", timeouts: RemoteTimeouts(connect: 2, idle: 0.5))
        XCTAssertEqual(silent.0, "waiting")
        XCTAssertEqual(error(silent.2), .timeout(0.5))
        XCTAssertLessThan(Date().timeIntervalSince(t0), 3)
    }

    func testCancelStopsTheStreamPromptly() {
        let t0 = Date()
        let (text, _, result) = chat("slow", cancelAfter: 3)
        XCTAssertEqual(try? result.get(), StreamOutcome(finishReason: nil, cancelled: true))
        XCTAssertEqual(text, "tick tick tick ")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "the slow model takes 10 s to finish")
    }

    func testBadURLIsAnError() {
        let bad = RemoteEndpoint(name: "x", baseURL: "ftp://example/v1")
        guard case .failure(.badURL) = RemoteClient.listModels(bad).result else { return XCTFail() }
    }
}
