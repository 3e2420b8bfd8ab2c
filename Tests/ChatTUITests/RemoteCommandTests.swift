import Foundation
import XCTest

/// `models`, `generate` and the weight-reading commands with remote models from a fake
/// OpenAI-compatible server (config.json endpoints, and OPENAI_BASE_URL).
final class RemoteCommandTests: XCTestCase {
    var server: FakeOpenAIServer!
    var configHome: URL!
    /// The binary runner of the headless tests (a plain instance: only its helpers are used).
    let cli = HeadlessCommandTests(name: "runner", testClosure: { _ in })

    override func setUpWithError() throws {
        server = try FakeOpenAIServer()
        configHome = FileManager.default.temporaryDirectory.appendingPathComponent("sc-remote-\(UUID().uuidString.prefix(8))")
        let dir = configHome.appendingPathComponent("sparkchat")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = """
            {"endpoints": [{"name": "lab", "url": "\(server.baseURL)"},
                           {"name": "down", "url": "http://127.0.0.1:\(FakeOpenAIServer.closedPort())/v1"},
                           {"name": "bad/name", "url": "http://127.0.0.1:1/v1"}]}
            """
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        server?.stop()
        if let c = configHome { try? FileManager.default.removeItem(at: c) }
    }

    func run(_ args: String..., env: [String: String] = [:]) throws -> HeadlessCommandTests.Output {
        try cli.run(args.map { Array($0.utf8) }, env: ["XDG_CONFIG_HOME": configHome.path, "OPENAI_BASE_URL": ""].merging(env) { $1 })
    }

    func testModelsListsRemoteModelsBesideLocalOnesAndUnreachableEndpoints() throws {
        let t0 = Date()
        let out = try run("models", "--json", env: ["OPENAI_BASE_URL": server.baseURL, "OPENAI_API_KEY": "k"])
        XCTAssertLessThan(Date().timeIntervalSince(t0), 3)
        XCTAssertEqual(out.status, 0, out.stderr)
        let objects = out.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let echo = objects.first { $0["name"] as? String == "lab/echo" }
        XCTAssertEqual(echo?["format"] as? String, "remote")
        XCTAssertEqual(echo?["endpoint"] as? String, "lab")
        XCTAssertTrue(objects.contains { $0["name"] as? String == "openai/slow" && $0["endpoint"] as? String == "openai" })
        let down = objects.first { $0["endpoint"] as? String == "down" }
        XCTAssertEqual(down?["unreachable"] as? Bool, true)
        XCTAssertTrue((down?["error"] as? String)?.contains("connection refused") == true)
        XCTAssertTrue(out.stderr.contains("config.json: ignoring endpoint bad/name"), out.stderr)
        let table = try run("models")
        XCTAssertTrue(table.stdout.contains("lab/echo"))
        XCTAssertTrue(table.stdout.contains("down/") && table.stdout.contains("unreachable: connection refused"), table.stdout)
    }

    func testGenerateStreamsTheSameJSONWithNullForWhatARemoteCannotGive() throws {
        let out = try run("generate", "--model", "lab/echo", "--chat", "--system", "sys", "--prompt", "hi there", "--json")
        XCTAssertEqual(out.status, 0, out.stderr)
        let lines = out.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let tokens = lines.dropLast()
        XCTAssertEqual(tokens.map { $0["text"] as! String }.joined(), "echo of 2 messages (system,user): hi there")
        XCTAssertTrue(tokens.allSatisfy { $0["id"] is NSNull && $0["ffn_active"] is NSNull && $0["ms"] is NSNumber })
        let done = lines.last!
        XCTAssertEqual(done["done"] as? Bool, true)
        XCTAssertEqual(done["generated_tokens"] as? Int, tokens.count)
        XCTAssertEqual(done["prompt_tokens"] as? Int, 3)
        XCTAssertTrue(done["prefill_tps"] is NSNull)
        XCTAssertEqual(done["model"] as? String, "lab/echo")

        let raw = try run("generate", "--model", "lab/sparky", "--prompt", "plain text", "--max-tokens", "2", "--json")
        let first = try JSONSerialization.jsonObject(with: Data(raw.stdout.split(separator: "\n")[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["text"] as? String, "echo:")
        XCTAssertEqual(first["ffn_active"] as? Int, 100, "x_sparkchat stats come through")
        XCTAssertTrue(raw.stdout.contains("\"stop\":\"max_tokens\""))
    }

    func testFailuresAreOneLineWithPartialTextKept() throws {
        let cut = try run("generate", "--model", "lab/cut", "--chat", "--prompt", "x")
        XCTAssertNotEqual(cut.status, 0)
        XCTAssertEqual(cut.stdout, "partial reply so\n")
        XCTAssertEqual(cut.stderr, "sparkchat: error: lab/cut: the stream was cut mid-reply\n")
        for (model, words) in [
            ("error-401", "refused the API key"), ("error-429", "HTTP 429"), ("error-500", "server error"),
            ("gone", "model not found")
        ] {
            let out = try run("generate", "--model", "lab/\(model)", "--prompt", "x")
            XCTAssertNotEqual(out.status, 0)
            XCTAssertEqual(out.stderr.split(separator: "\n").count, 1, out.stderr)
            XCTAssertTrue(out.stderr.contains(words), out.stderr)
        }
        let down = try run("generate", "--model", "down/m", "--prompt", "x")
        XCTAssertTrue(down.stderr.contains("connection refused"), down.stderr)
    }

    func testCommandsThatNeedTheWeightsRefuseARemoteModel() throws {
        let text = configHome.appendingPathComponent("text.txt")
        try "some text to score".write(to: text, atomically: true, encoding: .utf8)
        for args in [["tokenize", "--text", "hi"], ["logits", "--text", "hi"], ["bench"], ["perplexity", "--file", text.path]] {
            let out = try cli.run((args + ["--model", "lab/echo"]).map { Array($0.utf8) }, env: ["XDG_CONFIG_HOME": configHome.path])
            XCTAssertNotEqual(out.status, 0, args[0])
            XCTAssertEqual(
                out.stderr, "sparkchat: error: lab/echo is a remote model (endpoint lab): \(args[0]) needs the model's weights here; use a local model\n")
        }
    }
}
