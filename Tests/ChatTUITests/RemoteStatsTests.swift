import Foundation
import Inference
import Remote
import XCTest

@testable import ChatTUI

/// What the stats panel and the saved message stats show for a remote reply: timings
/// and the server's usage, sparsity as n/a unless the server sent x_sparkchat.
final class RemoteStatsTests: XCTestCase {
    private func reply(stats: ServerTokenStats?) -> LiveStats {
        let t0 = Date()
        let meter = RemoteStreamMeter()
        var live = LiveStats(promptTokens: 0, contextLimit: 4096, started: t0)
        live.remote = true
        for i in 0..<4 {
            let t = meter.take(.text("w\(i) ", stats: stats), now: t0.addingTimeInterval(0.5 + 0.1 * Double(i)))!
            live.add(t, at: t0.addingTimeInterval(0.5 + 0.1 * Double(i)))
        }
        _ = meter.take(.usage(promptTokens: 12, completionTokens: 5))
        let s = meter.summary(StreamOutcome(finishReason: "stop", cancelled: false))
        live.finish(s, contextUsed: s.promptTokens + s.generatedTokens)
        return live
    }

    func testRemoteReplyWithoutServerStatsShowsNotAvailable() {
        let live = reply(stats: nil)
        XCTAssertEqual(live.tokens, 5, "the server's usage count wins over the pieces counted")
        XCTAssertEqual(live.promptTokens, 12)
        let rows = StatsPanel.rows(live, model: "lab/m", sparsity: "n/a (remote)", streaming: false).map(\.0)
        XCTAssertTrue(rows.contains("FFN active n/a"), "\(rows)")
        XCTAssertTrue(rows.contains("FLOPs     n/a"))
        XCTAssertTrue(rows.contains("sparsity  n/a (remote engine)"))
        XCTAssertTrue(rows.contains("usage     12 prompt + 5 reply tok"))
        XCTAssertFalse(rows.contains { $0.hasPrefix("prompt ") }, "no prompt speed from a remote engine")
        XCTAssertTrue(rows.contains { $0.hasPrefix("TTFT      ") && $0.hasSuffix(" ms") && !$0.contains("–") })
        XCTAssertGreaterThan(live.decodeTPS, 0)
    }

    func testServerStatsFromSparkchatServeAreShown() {
        let live = reply(stats: ServerTokenStats(ffnActive: 100, ffnTotal: 400, attended: 9, flops: 1e6, flopsDense: 4e6))
        let rows = StatsPanel.rows(live, model: "lab/m", sparsity: "n/a (remote)", streaming: false).map(\.0)
        XCTAssertTrue(rows.contains("FFN active 25.0% mean"), "\(rows)")
        XCTAssertTrue(rows.contains("FFN active 25.0% 100/400"))
        XCTAssertEqual(live.messageStats.meanActiveFFN, 0.25, accuracy: 1e-9)
    }

    func testEndpointsFromConfigAndEnvironmentAndModelReferences() {
        var config = AppConfig()
        config.endpoints = [EndpointConfig(name: "lab", url: "http://h:1/v1/", apiKeyEnv: "LAB_KEY")]
        let e = RemoteModels.endpoints(
            config,
            environment: [
                "LAB_KEY": "k1", "OPENAI_BASE_URL": "https://api.example/v1",
                "OPENAI_API_KEY": "k2"
            ])
        XCTAssertEqual(
            e,
            [
                RemoteEndpoint(name: "lab", baseURL: "http://h:1/v1", apiKey: "k1", apiKeyVariable: "LAB_KEY"),
                RemoteEndpoint(name: "openai", baseURL: "https://api.example/v1", apiKey: "k2", apiKeyVariable: "OPENAI_API_KEY")
            ])
        XCTAssertEqual(RemoteModels.reference("lab/google/gemma-3-27b-it", endpoints: e)?.id, "google/gemma-3-27b-it")
        XCTAssertNil(RemoteModels.reference("other/x", endpoints: e))
        XCTAssertNil(RemoteModels.reference("lab/", endpoints: e))
        XCTAssertNil(RemoteModels.reference("gemma-3-270m-q4_k_m", endpoints: e))
    }

    func testBadEndpointEntriesAreDroppedWithANotice() throws {
        var config = try JSONDecoder().decode(
            AppConfig.self,
            from: Data(
                """
                {"endpoints": [{"name": "ok", "url": "http://a/v1"}, {"name": "a b", "url": "http://a/v1"},
                               {"name": "nourl", "url": "file:///etc"}, {"name": "ok", "url": "http://b/v1"}]}
                """.utf8))
        let notices = SettingsValidation.sanitize(&config, source: "config.json")
        XCTAssertEqual(config.endpoints?.map(\.url), ["http://a/v1"])
        XCTAssertEqual(notices.count, 3, "\(notices)")
    }
}
