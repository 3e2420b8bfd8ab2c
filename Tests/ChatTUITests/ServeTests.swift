import Foundation
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `sparkchat serve` as a client sees it: the built binary on a free loopback port, the
/// default model, real HTTP. One server serves every test (loading is done once);
/// it runs with --max-queue 1 and --max-batch 1 (one request at a time) so that the 429
/// test needs only three requests. Batching has a server of its own.
final class ServeTests: XCTestCase {
    static var shared: ServerProcess?

    override class func tearDown() {
        shared?.stop()
        shared = nil
        super.tearDown()
    }

    func server() throws -> ServerProcess {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        if let s = ServeTests.shared { return s }
        let s = try ServerProcess.start(["--max-queue", "1", "--max-batch", "1"])
        ServeTests.shared = s
        return s
    }

    // MARK: endpoints

    func testHealthAndModels() throws {
        let s = try server()
        let health = try s.request("GET", "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json?["status"] as? String, "ok")
        let models = try s.request("GET", "/v1/models")
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual(models.json?["object"] as? String, "list")
        let data = try XCTUnwrap(models.json?["data"] as? [[String: Any]])
        let ids = data.compactMap { $0["id"] as? String }
        XCTAssertTrue(ids.contains("gemma-3-270m-q4_k_m"), "\(ids)")
        XCTAssertTrue(data.allSatisfy { $0["object"] as? String == "model" && ($0["context_length"] as? Int ?? 0) > 0 })
        let one = try s.request("GET", "/v1/models/gemma-3-270m-q4_k_m")
        XCTAssertEqual(one.json?["id"] as? String, "gemma-3-270m-q4_k_m")
    }

    /// Greedy decoding is deterministic, so the streamed pieces must add up to the
    /// non-streamed reply, and each piece carries the engine's statistics.
    func testChatStreamMatchesNonStreamAndCarriesStats() throws {
        let s = try server()
        let body: [String: Any] = [
            "model": "gemma-3-270m-q4_k_m", "temperature": 0, "max_tokens": 12,
            "messages": [
                ["role": "system", "content": "Answer briefly."],
                ["role": "user", "content": "What is the capital of France?"]
            ]
        ]
        let whole = try s.request("POST", "/v1/chat/completions", json: body)
        XCTAssertEqual(whole.status, 200, whole.text)
        XCTAssertEqual(whole.json?["object"] as? String, "chat.completion")
        let choice = try XCTUnwrap((whole.json?["choices"] as? [[String: Any]])?.first)
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        let content = try XCTUnwrap(message["content"] as? String)
        XCTAssertFalse(content.isEmpty)
        let finish = try XCTUnwrap(choice["finish_reason"] as? String)
        XCTAssertTrue(["stop", "length"].contains(finish))
        let usage = try XCTUnwrap(whole.json?["usage"] as? [String: Int])
        XCTAssertGreaterThan(usage["prompt_tokens"] ?? 0, 5)
        XCTAssertTrue((1...12).contains(usage["completion_tokens"] ?? 0))
        XCTAssertEqual(usage["total_tokens"], (usage["prompt_tokens"] ?? 0) + (usage["completion_tokens"] ?? 0))

        var streamed = body
        streamed["stream"] = true
        streamed["stream_options"] = ["include_usage": true]
        let sse = try s.request("POST", "/v1/chat/completions", json: streamed)
        XCTAssertEqual(sse.status, 200)
        XCTAssertEqual(sse.headers["Content-Type"], "text/event-stream")
        let events = sse.events
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(chunks.count, events.count - 1, "every event but [DONE] is a JSON object")
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        var text = ""
        var tokenChunks = 0
        for c in chunks {
            guard let choice = (c["choices"] as? [[String: Any]])?.first, let delta = choice["delta"] as? [String: Any] else { continue }
            text += delta["content"] as? String ?? ""
            if choice["finish_reason"] is NSNull, let stats = c["x_sparkchat"] as? [String: Any], (stats["token_id"] as? Int ?? -1) >= 0 {
                tokenChunks += 1
                let active = stats["ffn_active"] as? Int ?? -1, total = stats["ffn_total"] as? Int ?? -1
                XCTAssertGreaterThan(total, 0)
                XCTAssertTrue((1...total).contains(active), "\(stats)")
                XCTAssertGreaterThan(stats["attended"] as? Int ?? 0, 0)
                let flops = stats["flops"] as? Double ?? 0, dense = stats["flops_dense"] as? Double ?? 0
                XCTAssertGreaterThan(flops, 0)
                XCTAssertGreaterThanOrEqual(dense, flops)
            }
        }
        XCTAssertEqual(text, content)
        let last = try XCTUnwrap(chunks.last)
        XCTAssertEqual((last["choices"] as? [Any])?.count, 0, "the usage chunk has no choices")
        let streamUsage = try XCTUnwrap(last["usage"] as? [String: Int])
        XCTAssertEqual(streamUsage["completion_tokens"], usage["completion_tokens"])
        XCTAssertEqual(tokenChunks, usage["completion_tokens"])
        let final = chunks[chunks.count - 2]
        XCTAssertEqual(((final["choices"] as? [[String: Any]])?.first)?["finish_reason"] as? String, finish)
    }

    /// A stop text found in the greedy continuation cuts it there: the text before it,
    /// finish_reason "stop"; without one, max_tokens ends it with "length".
    func testCompletionsStopAndLength() throws {
        let s = try server()
        let body: [String: Any] = ["prompt": "1, 2, 3, 4, 5,", "temperature": 0, "max_tokens": 10]
        let full = try s.request("POST", "/v1/completions", json: body)
        XCTAssertEqual(full.status, 200, full.text)
        XCTAssertEqual(full.json?["object"] as? String, "text_completion")
        let choice = try XCTUnwrap((full.json?["choices"] as? [[String: Any]])?.first)
        let text = try XCTUnwrap(choice["text"] as? String)
        XCTAssertEqual(choice["finish_reason"] as? String, "length")
        XCTAssertEqual((full.json?["usage"] as? [String: Int])?["completion_tokens"], 10)
        // Cut at a character that first appears past the start. The reply's edges are
        // trimmed of whitespace once a stop text is in play (StopStringFilter: a frame's
        // prompt ends before the space the model writes).
        let chars = Array(text)
        let at = try XCTUnwrap((2..<chars.count).first { i in !chars[i].isWhitespace && !chars[..<i].contains(chars[i]) }, text)
        let stop = String(chars[at])
        let prefix = String(chars[..<at]).trimmingCharacters(in: .whitespacesAndNewlines)
        var stopped = body
        stopped["stop"] = [stop, "never-appears"]
        let cut = try s.request("POST", "/v1/completions", json: stopped)
        let cutChoice = try XCTUnwrap((cut.json?["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(cutChoice["text"] as? String, prefix)
        XCTAssertEqual(cutChoice["finish_reason"] as? String, "stop")
    }

    func testSeedRepeatsASampledReply() throws {
        let s = try server()
        let body: [String: Any] = ["prompt": "Once upon a time", "temperature": 1.2, "top_p": 1, "max_tokens": 12, "seed": 1234]
        let a = try s.request("POST", "/v1/completions", json: body)
        let b = try s.request("POST", "/v1/completions", json: body)
        let textA = (a.json?["choices"] as? [[String: Any]])?.first?["text"] as? String
        XCTAssertNotNil(textA)
        XCTAssertEqual(textA, (b.json?["choices"] as? [[String: Any]])?.first?["text"] as? String)
    }

    // MARK: hostile requests

    func testBadRequestsGetOpenAIErrorsAndTheServerGoesOn() throws {
        let s = try server()
        func check(
            _ r: ServerProcess.Response, _ status: Int, code: String? = nil, param: String? = nil,
            file: StaticString = #filePath, line: UInt = #line
        ) {
            XCTAssertEqual(r.status, status, r.text, file: file, line: line)
            let error = r.json?["error"] as? [String: Any]
            XCTAssertNotNil(error?["message"] as? String, r.text, file: file, line: line)
            XCTAssertNotNil(error?["type"] as? String, r.text, file: file, line: line)
            XCTAssertTrue(error?.keys.contains("param") == true && error?.keys.contains("code") == true, r.text, file: file, line: line)
            if let code { XCTAssertEqual(error?["code"] as? String, code, file: file, line: line) }
            if let param { XCTAssertEqual(error?["param"] as? String, param, file: file, line: line) }
        }
        check(try s.request("POST", "/v1/chat/completions", body: Data("{\"messages\": [".utf8)), 400, code: "invalid_json")
        check(try s.request("POST", "/v1/chat/completions", body: Data("[1,2]".utf8)), 400)
        check(
            try s.request(
                "POST", "/v1/chat/completions",
                json: [
                    "messages": [["role": "user", "content": "hi"]],
                    "temperature": "hot"
                ]), 400, code: "invalid_type", param: "temperature")
        check(
            try s.request(
                "POST", "/v1/chat/completions",
                json: [
                    "messages": [["role": "user", "content": "hi"]],
                    "max_tokens": 1.5
                ]), 400, param: "max_tokens")
        check(
            try s.request(
                "POST", "/v1/chat/completions",
                json: [
                    "messages": [["role": "user", "content": "hi"]],
                    "stream": "yes"
                ]), 400, param: "stream")
        check(
            try s.request("POST", "/v1/chat/completions", json: ["messages": [["role": "wizard", "content": "hi"]]]), 400,
            param: "messages[0].role")
        check(try s.request("POST", "/v1/chat/completions", json: ["model": "gemma-3-270m-q4_k_m"]), 400, param: "messages")
        check(try s.request("POST", "/v1/completions", json: ["prompt": "x", "temperature": 5]), 400, param: "temperature")
        check(
            try s.request(
                "POST", "/v1/chat/completions",
                json: [
                    "model": "no-such-model",
                    "messages": [["role": "user", "content": "hi"]]
                ]),
            404, code: "model_not_found")
        check(try s.request("GET", "/v1/nothing-here"), 404)
        check(try s.request("DELETE", "/v1/models"), 405)
        // Over the 4 MiB body limit.
        check(try s.request("POST", "/v1/completions", body: Data(repeating: UInt8(ascii: "a"), count: 5 << 20)), 413)
        // Over the 32K-token context: one token per word.
        let long = String(repeating: "word ", count: 40_000)
        check(try s.request("POST", "/v1/completions", json: ["prompt": long, "max_tokens": 1]), 400, code: "context_length_exceeded")
        // Bytes that are not HTTP at all.
        let raw = try s.raw(Data("NOT HTTP\r\n\r\n".utf8))
        XCTAssertTrue(raw.hasPrefix("HTTP/1.1 400"), raw)
        // And it still answers.
        let ok = try s.request("POST", "/v1/completions", json: ["prompt": "Hello", "max_tokens": 2])
        XCTAssertEqual(ok.status, 200, ok.text)
    }

    /// With --max-queue 1: one request runs, one waits, the third is answered 429. The
    /// running one's client then hangs up, which stops its generation (logged), and the
    /// waiting one is answered.
    func testFullQueueAnswers429AndAHangUpCancels() throws {
        let s = try server()
        // Greedy counting goes on and on: no end of text cuts this one short.
        let long: [String: Any] = ["prompt": "1, 2, 3, 4, 5,", "max_tokens": 400, "temperature": 0, "stream": true]
        let socket = try RawConnection(port: s.port)
        try socket.send(ServerProcess.rawRequest("POST", "/v1/completions", json: long))
        let firstBytes = try socket.receive(until: "data: ", timeout: 60)
        XCTAssertTrue(firstBytes.contains("200 OK"), firstBytes)

        let waiting = DispatchSemaphore(value: 0)
        let waitingResult = Locked<ServerProcess.Response?>(nil)
        DispatchQueue.global().async {
            waitingResult.value = try? s.request("POST", "/v1/completions", json: ["prompt": "Hi", "max_tokens": 2])
            waiting.signal()
        }
        let deadline = Date().addingTimeInterval(30)
        while (try s.request("GET", "/health").json?["waiting"] as? Int) != 1 {
            XCTAssertLessThan(Date(), deadline, "the second request never waited")
            if Date() > deadline { return }
            usleep(50_000)
        }
        let refused = try s.request("POST", "/v1/completions", json: ["prompt": "Hi", "max_tokens": 2])
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertEqual((refused.json?["error"] as? [String: Any])?["type"] as? String, "rate_limit_error")

        socket.close()
        XCTAssertEqual(waiting.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(waitingResult.value?.status, 200)
        XCTAssertTrue(s.log.contains("cancelled after"), s.log)
    }

    // MARK: continuous batching

    /// Four requests at once decode together (default batching) and each gets the
    /// continuation of its own prompt, while a fifth, streaming, is hung up mid-batch:
    /// no sequence sees another's tokens or cache, and a hang-up leaves the others going.
    func testBatchedRequestsEachGetTheirOwnReply() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        let s = try ServerProcess.start(["--max-batch", "8"])
        defer { s.stop() }
        let hangUp = try RawConnection(port: s.port)
        try hangUp.send(
            ServerProcess.rawRequest(
                "POST", "/v1/completions",
                json: ["prompt": "1, 2, 3,", "max_tokens": 400, "temperature": 0, "stream": true]))
        _ = try hangUp.receive(until: "data: ", timeout: 60)
        let cases = [
            ("1, 2, 3, 4, 5,", " 6, 7"), ("Monday, Tuesday, Wednesday,", " Thursday, Friday"),
            ("January, February, March,", " April, May"), ("a, b, c, d, e,", " f")
        ]
        let results = Locked<[String?]>(Array(repeating: nil, count: cases.count))
        DispatchQueue.concurrentPerform(iterations: cases.count) { i in
            if i == 0 { hangUp.close() }
            let r = try? s.request("POST", "/v1/completions", json: ["prompt": cases[i].0, "temperature": 0, "max_tokens": 6])
            let text = ((r?.json?["choices"] as? [[String: Any]])?.first?["text"]) as? String
            results.update { $0[i] = text }
        }
        for (i, c) in cases.enumerated() {
            XCTAssertTrue(results.value[i]?.hasPrefix(c.1) == true, "\(c.0) -> \(results.value[i] ?? "nil")")
        }
        let deadline = Date().addingTimeInterval(30)
        while !s.log.contains("cancelled after") && Date() < deadline { usleep(50_000) }
        XCTAssertTrue(s.log.contains("cancelled after"), s.log)
    }

    // MARK: the command line

    func testAPIKeyIsRequiredWhenConfigured() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
        let s = try ServerProcess.start(["--api-key-env", "SERVE_TEST_KEY"], env: ["SERVE_TEST_KEY": "sekrit-123"])
        defer { s.stop() }
        XCTAssertEqual(try s.request("GET", "/health").status, 200, "health checks need no key")
        let none = try s.request("GET", "/v1/models")
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual((none.json?["error"] as? [String: Any])?["code"] as? String, "invalid_api_key")
        XCTAssertEqual(try s.request("GET", "/v1/models", headers: ["Authorization": "Bearer wrong"]).status, 401)
        XCTAssertEqual(try s.request("GET", "/v1/models", headers: ["Authorization": "Bearer sekrit-123"]).status, 200)

        // The same port twice, and a key variable that is not set: one-line errors.
        let busy = try ServerProcess.runToExit(["serve", "--port", String(s.port)])
        XCTAssertNotEqual(busy.status, 0)
        XCTAssertTrue(busy.stderr.hasPrefix("sparkchat: error: cannot listen on 127.0.0.1:\(s.port)"), busy.stderr)
        XCTAssertEqual(busy.stderr.split(separator: "\n").count, 1, busy.stderr)
        let unset = try ServerProcess.runToExit(["serve", "--api-key-env", "SPARKCHAT_SURELY_UNSET"])
        XCTAssertNotEqual(unset.status, 0)
        XCTAssertTrue(unset.stderr.contains("SPARKCHAT_SURELY_UNSET"), unset.stderr)
    }
}
