import Foundation

/// The chat format of a pretrained (base) model: a short instruction, a few example
/// exchanges, then the conversation as `User:` / `Assistant:` lines. A base model
/// continues such a transcript in kind and, having seen the examples end, writes the
/// next `User:` line itself; that marker ends the reply and is never shown.
///
/// Measured on Gemma 3 270M (pretrained): the Gemma turn markup made 16 of 16 plain
/// questions run to the token limit repeating themselves; a frame like this one made
/// every reply end by itself. The text is data (formats/dialogue.json), so a user can
/// tune it for their model without rebuilding.
public struct DialogueFrame: Sendable, Equatable, Codable {
    public struct Example: Sendable, Equatable, Codable {
        public var user: String
        public var assistant: String
        public init(user: String, assistant: String) { self.user = user; self.assistant = assistant }
    }

    /// Shown by the picker and the stats panel (e.g. "dialogue").
    public var name: String
    /// The opening line(s), before any example.
    public var instruction: String
    /// How a system prompt is folded in after the instruction; `{system}` is replaced.
    public var systemTemplate: String
    public var examples: [Example]
    public var userPrefix: String
    public var assistantPrefix: String
    /// Between the instruction, the examples and each exchange.
    public var separator: String
    /// Texts that end the reply (the next turn's marker); never shown or saved.
    public var stop: [String]

    enum CodingKeys: String, CodingKey {
        case name, instruction, examples, separator, stop
        case systemTemplate = "system_template", userPrefix = "user_prefix", assistantPrefix = "assistant_prefix"
    }

    public init(
        name: String, instruction: String, systemTemplate: String, examples: [Example],
        userPrefix: String, assistantPrefix: String, separator: String, stop: [String]
    ) {
        self.name = name; self.instruction = instruction; self.systemTemplate = systemTemplate
        self.examples = examples; self.userPrefix = userPrefix; self.assistantPrefix = assistantPrefix
        self.separator = separator; self.stop = stop
    }

    /// Parses a frame file, checking what a render relies on.
    public static func decode(_ data: Data, source: String) throws -> DialogueFrame {
        let f: DialogueFrame
        do { f = try JSONDecoder().decode(DialogueFrame.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
            throw EngineError.format("\(source): missing key \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw EngineError.format("\(source): wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw EngineError.format("\(source): not a valid chat format file")
        }
        guard !f.userPrefix.isEmpty, !f.assistantPrefix.isEmpty else {
            throw EngineError.format("\(source): user_prefix and assistant_prefix must not be empty")
        }
        guard !f.stop.isEmpty, f.stop.allSatisfy({ !$0.isEmpty }) else {
            throw EngineError.format("\(source): stop needs at least one non-empty text")
        }
        return f
    }

    /// The frame text. A message's own line breaks are kept; the prefix goes once per turn.
    /// The generation prompt ends with the assistant prefix and no space: SentencePiece
    /// vocabularies carry the space on the next word ("▁Paris"), so the model writes it.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        let system = messages.filter { $0.role == .system }.map(\.text).joined(separator: "\n\n")
        var blocks: [String] = []
        var head = instruction
        if !system.isEmpty {
            let folded = systemTemplate.replacingOccurrences(of: "{system}", with: system)
            head = head.isEmpty ? folded : head + "\n" + folded
        }
        if !head.isEmpty { blocks.append(head) }
        for e in examples {
            blocks.append(line(userPrefix, e.user) + "\n" + line(assistantPrefix, e.assistant))
        }
        var current: [String] = []
        for m in messages where m.role != .system {
            let text = m.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if m.role == .user {
                if !current.isEmpty { blocks.append(current.joined(separator: "\n")); current = [] }
                current.append(line(userPrefix, text))
            } else {
                current.append(line(assistantPrefix, text))
            }
        }
        if addGenerationPrompt { current.append(assistantPrefix.trimmingCharacters(in: .whitespaces)) }
        if !current.isEmpty { blocks.append(current.joined(separator: "\n")) }
        return blocks.joined(separator: separator)
    }

    private func line(_ prefix: String, _ text: String) -> String {
        let p = prefix.trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? p : p + " " + text
    }
}
