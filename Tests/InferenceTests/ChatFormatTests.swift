import Foundation
import XCTest

@testable import Inference

/// Chat formats against the reference: each family's published template rendered by
/// transformers' apply_chat_template (Tests/Fixtures/chat, scripts/fixtures/chat_templates.py),
/// recognised from the template text the way a model file stores it.
final class ChatFormatTests: XCTestCase {
    func testRenderingMatchesTransformersForEveryFamily() throws {
        let cases = try XCTUnwrap(try Fixtures.json("chat/expected.json") as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        var families = Set<String>()
        for c in cases {
            let family = try XCTUnwrap(c["family"] as? String)
            let template = try String(contentsOf: Fixtures.url("chat/templates/\(family).jinja"), encoding: .utf8)
            let format = try XCTUnwrap(ChatTemplateRecognizer.recognize(template), "\(family) not recognised")
            let messages = try XCTUnwrap(c["messages"] as? [[String: String]]).map { m -> ChatMessage in
                let role: ChatMessage.Role = m["role"] == "system" ? .system : m["role"] == "user" ? .user : .model
                return ChatMessage(role: role, text: m["content"]!)
            }
            let gen = try XCTUnwrap(c["add_generation_prompt"] as? Bool)
            XCTAssertEqual(
                format.render(messages, addGenerationPrompt: gen), c["text"] as? String,
                "\(family) / \(c["conversation"]!) / generation prompt \(gen)")
            families.insert(family)
        }
        XCTAssertEqual(families, ["gemma3", "gemma2", "chatml", "llama3"])
    }

    func testRecognitionByMarkers() {
        XCTAssertEqual(ChatTemplateRecognizer.recognize("{{ '<start_of_turn>' + role }}"), .gemma(trimContent: false))
        XCTAssertEqual(ChatTemplateRecognizer.recognize("{{ '<start_of_turn>' + m | trim }}"), .gemma(trimContent: true))
        XCTAssertEqual(ChatTemplateRecognizer.recognize("<|im_start|>"), .chatml)
        XCTAssertEqual(ChatTemplateRecognizer.recognize("<|start_header_id|>"), .llama3)
        XCTAssertNil(ChatTemplateRecognizer.recognize("{{ messages }}"))
    }

    func testBaseOrInstructFromWhatTheFilesSay() {
        // The default model: no template, no "-it" in any name → pretrained.
        guard
            case .base = ChatStyle.decide(
                template: nil, names: ["Gemma 3 270m", "gemma-3", "gemma-3-270m-q4_k_m"],
                architecture: "gemma3")
        else { return XCTFail("270M pretrained is a base model") }
        // A stored template makes it instruction-tuned, with the recognised markup.
        XCTAssertEqual(
            ChatStyle.decide(template: "<|im_start|>", names: ["x"], architecture: "qwen2"),
            .instruct(.chatml, reason: "instruction-tuned (stored chat template)"))
        // Names win: Google ships its chat template with pretrained checkpoints too.
        guard case .base = ChatStyle.decide(template: "<start_of_turn>", names: ["gemma-3-1b-pt"], architecture: "gemma3")
        else { return XCTFail("-pt is pretrained") }
        guard case .instruct(.gemma, _) = ChatStyle.decide(template: nil, names: ["gemma-2-2b-it-Q4_K_M"], architecture: "gemma2")
        else { return XCTFail("-it with no template gets the family's markup") }
        // "it" must be a word, not a substring ("Spirit", "kit").
        guard case .base = ChatStyle.decide(template: nil, names: ["spirit-kit"], architecture: "gemma3")
        else { return XCTFail("substring 'it' is not a label") }
    }

    func testGGUFTemplateAndNamesReachTheLoadedModel() throws {
        var w = GGUFWriter.tinyGemma3()
        let plain = try LoadedModel.load(path: try GGUFWriter.temporaryFile(w.bytes(), name: "tiny"))
        guard case .base = plain.info.chatStyle else { return XCTFail("no template: base") }
        w.add("tokenizer.chat_template", .string(try String(contentsOf: Fixtures.url("chat/templates/gemma3.jinja"), encoding: .utf8)))
        let tuned = try LoadedModel.load(path: try GGUFWriter.temporaryFile(w.bytes(), name: "tiny"))
        XCTAssertEqual(tuned.info.chatStyle, .instruct(.gemma(trimContent: true), reason: "instruction-tuned (stored chat template)"))
        XCTAssertEqual(tuned.chatFormat, .gemma(trimContent: true))
        XCTAssertEqual(tuned.info.chatFormatLabel, "gemma")
    }

    func testHuggingFaceTemplateFilesAreRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chat-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertNil(StoredChatTemplate.template(directory: dir))
        try #"{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "<|im_start|>"}]}"#
            .write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(StoredChatTemplate.template(directory: dir), "<|im_start|>")
        try "<start_of_turn>".write(to: dir.appendingPathComponent("chat_template.jinja"), atomically: true, encoding: .utf8)
        XCTAssertEqual(StoredChatTemplate.template(directory: dir), "<start_of_turn>", "chat_template.jinja wins")
        try "not json".write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("chat_template.jinja"))
        XCTAssertNil(StoredChatTemplate.template(directory: dir), "a broken tokenizer_config.json means no template")
    }
}

/// The dialogue frame of base models and how its replies end.
final class DialogueFrameTests: XCTestCase {
    let frame = DialogueFrame(
        name: "dialogue", instruction: "A chat.", systemTemplate: "Note: {system}",
        examples: [.init(user: "Hi", assistant: "Hello!")],
        userPrefix: "User:", assistantPrefix: "Assistant:", separator: "\n\n",
        stop: ["User:", "\nAssistant:"])

    func testFrameFoldsTheSystemPromptAndEndsAtTheAssistantMarker() {
        let text = frame.render([
            ChatMessage(role: .system, text: "Be brief."), ChatMessage(role: .user, text: " What? \n"),
            ChatMessage(role: .model, text: "That."), ChatMessage(role: .user, text: "Why?")
        ])
        XCTAssertEqual(text, "A chat.\nNote: Be brief.\n\nUser: Hi\nAssistant: Hello!\n\nUser: What?\nAssistant: That.\n\nUser: Why?\nAssistant:")
    }

    func testFrameFileIsCheckedWithOneLineErrors() {
        XCTAssertThrowsError(try DialogueFrame.decode(Data("{}".utf8), source: "f.json")) {
            XCTAssertTrue("\($0)".contains("missing key"), "\($0)")
        }
        XCTAssertThrowsError(try DialogueFrame.decode(Data("[1,".utf8), source: "f.json"))
        let noStop =
            #"{"name":"d","instruction":"","system_template":"{system}","examples":[],"user_prefix":"U:","assistant_prefix":"A:","separator":"\n","stop":[]}"#
        XCTAssertThrowsError(try DialogueFrame.decode(Data(noStop.utf8), source: "f.json")) {
            XCTAssertTrue("\($0)".contains("stop"), "\($0)")
        }
    }

    struct Filtered: Equatable { var text: String; var stopped: Bool }

    /// Feeds `pieces` as tokens; returns what a reader sees and whether it stopped.
    func filtered(_ pieces: [String], stops: [String]) -> Filtered {
        var f = StopStringFilter(stops: stops)
        var out = ""
        for p in pieces { out += f.push(p); if f.stopped { return Filtered(text: out, stopped: true) } }
        return Filtered(text: out + f.flush(), stopped: false)
    }

    func testReplyNeverContainsTheNextTurnMarker() {
        // The marker split over tokens, with the blank line before it.
        XCTAssertEqual(
            filtered([" Paris", " is", " the", " capital", ".", "\n", "\n", "User", ":", " And"], stops: frame.stop).text,
            "Paris is the capital.")
        XCTAssertTrue(filtered(["A", "\nUs", "er:"], stops: frame.stop).stopped)
        // A near miss is released once it can no longer be a marker.
        XCTAssertEqual(filtered(["Use", "r", "s", " like", " it"], stops: frame.stop), Filtered(text: "Users like it", stopped: false))
        XCTAssertEqual(filtered(["a\n", "\n", "b"], stops: frame.stop).text, "a\n\nb")
        // Inside one token, and multi-byte text around it stays whole.
        XCTAssertEqual(filtered(["日本<end_of_turn>x"], stops: ["<end_of_turn>"]), Filtered(text: "日本", stopped: true))
        // Trailing whitespace of a reply that ends without a marker is dropped.
        XCTAssertEqual(filtered(["ok", " \n"], stops: ["User:"]), Filtered(text: "ok", stopped: false))
    }

    func testStreamedTextIsAPrefixOfTheFinalReplyAtEveryStep() {
        var f = StopStringFilter(stops: ["\nUser:"])
        var shown = ""
        for p in ["Hi", " ", "\n", "there", "\n", "Us", "x"] { shown += f.push(p) }
        shown += f.flush()
        XCTAssertEqual(shown, "Hi \nthere\nUsx")
    }
}

final class LoopGuardTests: XCTestCase {
    func feed(_ ids: [Int]) -> Int? {
        var g = LoopGuard()
        for (i, id) in ids.enumerated() where g.push(id) { return i + 1 }
        return nil
    }

    func testVerbatimLoopIsCaughtAfterThreeCopies() {
        let sentence = Array(100..<116)  // a 16-token sentence
        let reply = Array(0..<10) + Array(repeating: sentence, count: 5).flatMap { $0 }
        // Caught once three whole copies (48 tokens) are there, not before.
        XCTAssertEqual(feed(reply), 10 + 48)
    }

    func testShortPeriodsNeedTheMinimumSpan() {
        XCTAssertEqual(feed(Array(repeating: 7, count: 40)), 32)  // one token 32 times
        XCTAssertNil(feed(Array(repeating: [1, 2], count: 15).flatMap { $0 }))  // 30 tokens: not yet
    }

    func testOrdinaryTextIsNotALoop() {
        // Numbered list: the markers repeat, the items don't.
        var ids: [Int] = []
        for i in 0..<30 { ids += [1, 2, 500 + i, 3] }
        XCTAssertNil(feed(ids))
        XCTAssertNil(feed(Array(0..<500)))
    }
}
