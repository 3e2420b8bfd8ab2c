import Foundation
import XCTest

/// Runs the built `sparkchat` binary the way scripts and outside checks do, and checks
/// the command-line contract of docs/ARCHITECTURE.md §2: outputs, JSON shapes, one-line errors.
final class HeadlessCommandTests: XCTestCase {
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static var binary: String { repoRoot.appendingPathComponent(".build/release/sparkchat").path }
    static var modelPath: String {
        let env = ProcessInfo.processInfo.environment
        let data = env["XDG_DATA_HOME"] ?? (NSHomeDirectory() + "/.local/share")
        return env["SPARKCHAT_MODELS"].map { $0 + "/gemma-3-270m-q4_k_m.gguf" } ?? (data + "/sparkchat/models/gemma-3-270m-q4_k_m.gguf")
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    /// Runs the binary with raw byte arguments (so invalid UTF-8 can be passed).
    func run(_ args: [[UInt8]], env: [String: String] = [:]) throws -> Output {
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else {
            throw XCTSkip("release binary not built at \(HeadlessCommandTests.binary)")
        }
        var argv: [UnsafeMutablePointer<CChar>?] =
            ([Array(HeadlessCommandTests.binary.utf8)] + args).map { bytes in
                let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
                for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
                p[bytes.count] = 0
                return p
            } + [nil]
        defer { for p in argv { p?.deallocate() } }
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        let tmp = FileManager.default.temporaryDirectory
        let outURL = tmp.appendingPathComponent("sc-out-\(UUID().uuidString)")
        let errURL = tmp.appendingPathComponent("sc-err-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, outURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, HeadlessCommandTests.binary, &actions, nil, &argv, &envp)
        posix_spawn_file_actions_destroy(&actions)
        XCTAssertEqual(rc, 0)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(
            status: exit,
            stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }

    func run(_ args: String...) throws -> Output { try run(args.map { Array($0.utf8) }) }

    func requireModel() throws {
        guard FileManager.default.fileExists(atPath: HeadlessCommandTests.modelPath) else { throw XCTSkip("model not present") }
    }

    func assertOneLineError(_ o: Output, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(o.status, 0, "expected failure", file: file, line: line)
        let lines = o.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertGreaterThanOrEqual(lines.count, 1, file: file, line: line)
        XCTAssertTrue(
            lines.first.map { $0.localizedCaseInsensitiveContains(fragment) } ?? false,
            "stderr \(o.stderr.debugDescription) lacks \(fragment)", file: file, line: line)
        XCTAssertFalse(o.stderr.contains("Backtrace") || o.stderr.contains("Fatal error"), file: file, line: line)
    }

    func testMissingModelIsAOneLineError() throws {
        assertOneLineError(try run("generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi"), "not found")
        assertOneLineError(try run("generate", "--model", "no-such-model-name", "--prompt", "hi"), "not found")
    }

    func testNotAModelFileIsAOneLineError() throws {
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("junk-\(UUID().uuidString).gguf")
        try Data("this is not a gguf file at all".utf8).write(to: junk)
        defer { try? FileManager.default.removeItem(at: junk) }
        assertOneLineError(try run("generate", "--model", junk.path, "--prompt", "hi"), "magic")
    }

    func testEmptyPromptAndBadOptions() throws {
        assertOneLineError(try run("generate", "--model", "x", "--prompt", ""), "empty")
        assertOneLineError(try run("generate", "--model", "x", "--prompt", "a", "--temperature", "-1"), "temperature")
        assertOneLineError(try run("generate", "--model", "x", "--prompt", "a", "--sparsity", "half"), "sparsity")
    }

    func testNonUTF8PromptIsRejected() throws {
        let o = try run([Array("generate".utf8), Array("--model".utf8), Array("x".utf8), Array("--prompt".utf8), [0x66, 0xFF, 0xFE, 0x67]])
        assertOneLineError(o, "UTF-8")
    }

    func testTokenizePrintsAJSONArrayWithBOS() throws {
        try requireModel()
        let o = try run("tokenize", "--model", HeadlessCommandTests.modelPath, "--text", "Hello world")
        XCTAssertEqual(o.status, 0, o.stderr)
        let ids = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [Int]
        XCTAssertEqual(ids?.first, 2)
        XCTAssertGreaterThan(ids?.count ?? 0, 1)
        let noBos = try run("tokenize", "--model", HeadlessCommandTests.modelPath, "--text", "Hello world", "--no-bos")
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(noBos.stdout.utf8)) as? [Int]).map { [2] + $0 }, ids)
    }

    func testGenerateJSONFollowsTheContract() throws {
        try requireModel()
        let o = try run(
            "generate", "--model", HeadlessCommandTests.modelPath, "--prompt", "The capital of France is",
            "--temperature", "0", "--max-tokens", "5", "--json")
        XCTAssertEqual(o.status, 0, o.stderr)
        let lines = o.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(lines.count, 6)
        for l in lines.dropLast() {
            for key in ["id", "text", "logprob", "ms", "ffn_active", "ffn_total", "attended", "flops", "flops_dense"] {
                XCTAssertNotNil(l?[key], "token object lacks \(key)")
            }
            XCTAssertEqual(l?["ffn_active"] as? Int, l?["ffn_total"] as? Int, "dense model: every neuron active")
        }
        let done = lines.last!!
        XCTAssertEqual(done["done"] as? Bool, true)
        for key in ["prompt_tokens", "generated_tokens", "prefill_tps", "decode_tps"] { XCTAssertNotNil(done[key], key) }
        XCTAssertEqual(done["generated_tokens"] as? Int, 5)
        // Greedy is deterministic: the text run gives the same tokens.
        let text = try run(
            "generate", "--model", HeadlessCommandTests.modelPath, "--prompt", "The capital of France is",
            "--temperature", "0", "--max-tokens", "5")
        let joined = lines.dropLast().compactMap { $0?["text"] as? String }.joined()
        XCTAssertEqual(text.stdout.trimmingCharacters(in: .newlines), joined.trimmingCharacters(in: .newlines))
    }

    func testLogitsPrintsTopKPairs() throws {
        try requireModel()
        let o = try run("logits", "--model", HeadlessCommandTests.modelPath, "--text", "The capital of France is", "--top", "5")
        XCTAssertEqual(o.status, 0, o.stderr)
        let pairs = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [[Double]]
        XCTAssertEqual(pairs?.count, 5)
        let values = pairs?.map { $0[1] } ?? []
        XCTAssertEqual(values, values.sorted(by: >))
    }

    func testBenchJSON() throws {
        try requireModel()
        let o = try run(
            "bench", "--model", HeadlessCommandTests.modelPath, "--prompt-tokens", "16", "--gen-tokens", "4",
            "--repetitions", "1", "--threads", "2", "--json")
        XCTAssertEqual(o.status, 0, o.stderr)
        let j = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any]
        for key in ["prefill_tps", "decode_tps", "threads", "prompt_tokens", "gen_tokens"] { XCTAssertNotNil(j?[key], key) }
        XCTAssertEqual(j?["threads"] as? Int, 2)
        XCTAssertGreaterThan(j?["decode_tps"] as? Double ?? 0, 0)
    }

    /// bench says which kernels it timed. SPARKCHAT_CPU_LEVEL lowers them (1 = the AVX2
    /// paths and an AVX2 machine's sgemm threshold, so an AVX-512 machine can measure
    /// them) and is ignored when it would raise them or is not a level.
    func testBenchNamesItsKernelsAndTheLevelCapOnlyLowersThem() throws {
        try requireModel()
        func kernels(_ env: [String: String]) throws -> (String, Int) {
            let args = [
                "bench", "--model", HeadlessCommandTests.modelPath, "--prompt-tokens", "8", "--gen-tokens", "2",
                "--repetitions", "1", "--threads", "2", "--json"
            ]
            let o = try run(args.map { Array($0.utf8) }, env: env)
            XCTAssertEqual(o.status, 0, o.stderr)
            let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any])
            return (try XCTUnwrap(j["kernels"] as? String), try XCTUnwrap(j["sgemm_min_rows"] as? Int))
        }
        let native = try kernels([:])
        XCTAssertTrue(["scalar", "avx2", "avx512", "avx512-vnni"].contains(native.0), native.0)
        XCTAssertEqual(native.1, native.0 == "avx512-vnni" ? 512 : 128)
        XCTAssertEqual(try kernels(["SPARKCHAT_CPU_LEVEL": "0"]).0, "scalar")
        for ignored in ["2", "7", "x", "1 ", ""] {
            XCTAssertEqual(try kernels(["SPARKCHAT_CPU_LEVEL": ignored]).0, native.0, "SPARKCHAT_CPU_LEVEL=\(ignored)")
        }
        if native.0 != "scalar" {
            let capped = try kernels(["SPARKCHAT_CPU_LEVEL": "1"])
            XCTAssertEqual(capped.0, "avx2")
            XCTAssertEqual(capped.1, 128)
        }
    }

    /// `--depth N` starts each test with N tokens in the context (as llama-bench -d): the
    /// fill is measured too, and a depth beyond the model's context is one line.
    func testBenchAtDepth() throws {
        try requireModel()
        let o = try run(
            "bench", "--model", HeadlessCommandTests.modelPath, "--prompt-tokens", "16", "--gen-tokens", "4",
            "--repetitions", "2", "--threads", "2", "--depth", "600", "--json")
        XCTAssertEqual(o.status, 0, o.stderr)
        let j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(j["depth"] as? Int, 600)
        XCTAssertGreaterThan(j["depth_prefill_tps"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(j["decode_tps"] as? Double ?? 0, 0)
        let text = try run(
            "bench", "--model", HeadlessCommandTests.modelPath, "--prompt-tokens", "8", "--gen-tokens", "2",
            "--repetitions", "1", "--depth", "40")
        XCTAssertTrue(text.stdout.contains("context fill (40 tokens)") && text.stdout.contains("decode  (tg2 @ d40)"), text.stdout)
        let tooDeep = try run("bench", "--model", HeadlessCommandTests.modelPath, "--depth", "40000")
        XCTAssertNotEqual(tooDeep.status, 0)
        XCTAssertTrue(tooDeep.stderr.contains("exceed the model's context of 32768"), tooDeep.stderr)
        XCTAssertEqual(tooDeep.stderr.split(separator: "\n").count, 1, tooDeep.stderr)
    }

    func testModelsListsTheDefaultModel() throws {
        try requireModel()
        let dir = URL(fileURLWithPath: HeadlessCommandTests.modelPath).deletingLastPathComponent().path
        let o = try run([Array("models".utf8)], env: ["SPARKCHAT_MODELS": dir])
        XCTAssertEqual(o.status, 0, o.stderr)
        XCTAssertTrue(o.stdout.contains("gemma-3-270m-q4_k_m"))
        XCTAssertTrue(o.stdout.contains("gemma3"))
        XCTAssertTrue(o.stdout.contains("Q4_K_M"))
    }
}
