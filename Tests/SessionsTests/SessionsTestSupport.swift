import Foundation
import XCTest

@testable import Sessions

/// A fresh directory under the system temp dir, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sessions-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A conversation exercising every field: unicode and emoji, a system prompt, code, stats
/// with an infinite rate, an interrupted reply, non-default settings, sub-second times.
func sampleConversation(id: String = "20261127-050312-a1b2") -> Conversation {
    var settings = SamplingSettings()
    settings.temperature = 0
    settings.topK = 40
    settings.seed = 18_446_744_073_709_551_615
    settings.sparsity = "stat-topk:0.08"
    settings.speculative = "lookup:4"
    var c = Conversation(id: id, systemPrompt: "Be brief.\nAnswer in English 🇬🇧.", settings: settings, model: "gemma-3-270m")
    let t0 = Date(timeIntervalSince1970: 1_795_755_792.123_456_7)
    c.created = t0
    c.updated = t0
    c.append(Message(role: .user, text: "Héllo wörld 👋🏽 — what's 2+2?\nSecond line «quoted»", time: t0.addingTimeInterval(1.5)))
    c.append(
        Message(
            role: .assistant, text: "It is **4**.\n\n```python\nprint(2 + 2)  # 4 < 5 & \"ok\"\n```\nDone. 日本語 ✓",
            model: "gemma-3-270m", time: t0.addingTimeInterval(2.25),
            stats: MessageStats(
                promptTokens: 21, generatedTokens: 17, prefillTPS: 812.5, decodeTPS: .infinity,
                timeToFirstTokenMs: 33.3, meanActiveFFN: 0.0812, flops: 5.5e9, flopsDense: 9.1e9,
                speculativeAcceptance: 0.75)))
    c.append(Message(role: .user, text: "and 3+3?", time: t0.addingTimeInterval(10)))
    c.append(
        Message(
            role: .assistant, text: "Six, becau", model: "spark-270m", time: t0.addingTimeInterval(11),
            stats: MessageStats(generatedTokens: 3), interrupted: true))
    return c
}
