import Foundation
import Inference
import Sessions
import XCTest

@testable import ChatTUI

/// One set of rules for every setting, wherever it comes from: config.json and a session
/// file drop a bad value with a notice naming the key (the default applies); a drafter or
/// a session's model must be a real model (a session's only from the models directory).
/// The command line, checked by the same rules, is in ChatCommandTests.
final class SettingsValidationTests: XCTestCase {
    var dir: URL!
    var models: URL { dir.appendingPathComponent("models") }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sc-settings-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try Data("GGUF\u{3}\0\0\0".utf8).write(to: models.appendingPathComponent("drafter.gguf"))
        try Data("not a model".utf8).write(to: models.appendingPathComponent("notes.gguf"))
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testSessionFileSettingsFallBackToDefaultsWithNamedNotices() {
        var c = Conversation(model: "/etc/passwd")
        c.settings.sparsity = "stat-topk:NaN"
        c.settings.speculative = "model:/etc/passwd"
        c.settings.temperature = 1e300
        c.settings.topK = 1_000_000_000_000
        c.settings.topP = .nan
        c.settings.maxTokens = -1
        let notices = SettingsValidation.sanitize(session: &c, modelsDirectory: models)
        let d = SamplingSettings()
        XCTAssertEqual(c.settings.sparsity, d.sparsity)
        XCTAssertNil(c.settings.speculative)
        XCTAssertEqual(c.settings.temperature, d.temperature)
        XCTAssertEqual(c.settings.topK, d.topK)
        XCTAssertEqual(c.settings.topP, d.topP)
        XCTAssertEqual(c.settings.maxTokens, d.maxTokens)
        XCTAssertNil(c.model, "a session's model outside the models directory is not used")
        for key in [
            "sparsity stat-topk:NaN", "speculative model:/etc/passwd", "temperature 1e+300", "top_k 1000000000000",
            "top_p nan", "max_tokens -1", "model /etc/passwd"
        ] {
            XCTAssertTrue(notices.contains { $0.hasPrefix("session \(c.id): \(key) ") }, "no notice for \(key): \(notices)")
        }
        // Good values are kept, and say nothing.
        var good = Conversation(model: "drafter")
        good.settings.speculative = "model:drafter@4"
        good.settings.sparsity = "stat-topk:0.5"
        XCTAssertEqual(SettingsValidation.sanitize(session: &good, modelsDirectory: models), [])
        XCTAssertEqual(good.settings.speculative, "model:drafter@4")
        XCTAssertEqual(good.model, "drafter")
    }

    /// A drafter is a catalog name that resolves, a file that starts with the GGUF magic, or
    /// a checkpoint directory. /etc/passwd, a missing file, a FIFO (never opened: it would
    /// block) and a file named .gguf that is not one are refused, from every source.
    func testDrafterMustBeAModel() throws {
        let inside = models.appendingPathComponent("drafter.gguf").path
        let outside = dir.appendingPathComponent("outside.gguf")
        try FileManager.default.copyItem(atPath: inside, toPath: outside.path)
        let fifo = dir.appendingPathComponent("pipe.gguf").path  // not in the models folder, which a catalog scan opens
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let checkpoint = models.appendingPathComponent("ckpt")
        try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: checkpoint.appendingPathComponent("config.json"))
        try Data().write(to: checkpoint.appendingPathComponent("model.safetensors"))

        func problem(_ v: String, trusted: Bool) -> String? {
            SettingsValidation.speculative(v, trusted: trusted, modelsDirectory: models)
        }
        for trusted in [true, false] {
            XCTAssertNil(problem("model:drafter", trusted: trusted))
            XCTAssertNil(problem("model:\(inside)@3", trusted: trusted))
            XCTAssertNil(problem("model:\(checkpoint.path)", trusted: trusted))
            XCTAssertNil(problem("slice:4096", trusted: trusted))
            for bad in [
                "model:/etc/passwd", "model:\(fifo)", "model:\(models.path)/missing.gguf", "model:\(models.path)",
                "model:notes", "model:nothing-here"
            ] {
                XCTAssertNotNil(problem(bad, trusted: trusted), "\(bad) accepted (trusted: \(trusted))")
            }
        }
        XCTAssertNil(problem("model:\(outside.path)", trusted: true), "the user's own GGUF anywhere")
        XCTAssertNotNil(problem("model:\(outside.path)", trusted: false), "a session file may not name a file outside the models directory")
    }

    /// config.json: the same rules; every bad key is named and dropped.
    func testConfigFileUsesTheSameRules() throws {
        let config = dir.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        try Data(
            #"{"temperature": -3, "max_tokens": -1, "top_k": 1000000000000, "top_p": 1e300, "sparsity": "stat-topk:NaN", "speculative": "model:/etc/passwd", "seed": 5}"#
                .utf8
        )
        .write(to: config.appendingPathComponent("config.json"))
        let (cfg, notice) = AppConfig.load(from: config)
        XCTAssertNil(cfg.temperature); XCTAssertNil(cfg.maxTokens); XCTAssertNil(cfg.topK); XCTAssertNil(cfg.topP)
        XCTAssertNil(cfg.sparsity); XCTAssertNil(cfg.speculative)
        XCTAssertEqual(cfg.seed, 5)
        let n = try XCTUnwrap(notice)
        for key in ["temperature", "max_tokens", "top_k", "top_p", "sparsity", "speculative"] {
            XCTAssertTrue(n.contains("config.json: ignoring \(key) "), "no notice for \(key): \(n)")
        }
        var unseeded = cfg
        unseeded.seed = nil
        XCTAssertEqual(ChatApp.defaultSettings(unseeded), SamplingSettings(), "every bad value falls back to the default")
    }
}
