import Foundation

/// One saved chat: what `<id>.json` holds.
public struct Conversation: Codable, Equatable, Sendable, Identifiable {
    /// The file format this build writes. Files with a higher number are refused, never rewritten.
    public static let currentVersion = 1
    /// The title a conversation has until its first user message (or a rename) gives it one.
    public static let defaultTitle = "New chat"

    public var version: Int
    /// Short, filename-safe and sortable by creation time, e.g. "20261127-050312-a1b2".
    public var id: String
    /// From the first user message until renamed.
    public var title: String
    public var created: Date
    public var updated: Date
    public var systemPrompt: String?
    public var settings: SamplingSettings
    /// The model currently selected for the next reply (catalog name).
    public var model: String?
    public var messages: [Message]

    public init(
        id: String = Conversation.newID(), title: String = Conversation.defaultTitle, systemPrompt: String? = nil,
        settings: SamplingSettings = .init(), model: String? = nil
    ) {
        let now = Date()
        self.version = Conversation.currentVersion
        self.id = id
        self.title = title
        self.created = now
        self.updated = now
        self.systemPrompt = systemPrompt
        self.settings = settings
        self.model = model
        self.messages = []
    }

    /// UTC creation time to the second plus 16 random bits: ids sort by age and two chats
    /// started in the same second still get different files.
    public static func newID(now: Date = Date()) -> String {
        let t = CivilTime(now)
        let random = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return String(format: "%04d%02d%02d-%02d%02d%02d-", t.year, t.month, t.day, t.hour, t.minute, t.second)
            + String(repeating: "0", count: 4 - random.count) + random
    }

    /// Appends a message; the first user message names an untitled conversation.
    public mutating func append(_ m: Message) {
        if m.role == .user, title == Conversation.defaultTitle, !messages.contains(where: { $0.role == .user }) {
            let derived = Conversation.title(from: m.text)
            if !derived.isEmpty { title = derived }
        }
        messages.append(m)
        updated = max(updated, m.time)
    }

    /// A one-line title: the first non-blank line, whitespace collapsed, at most 60 characters.
    public static func title(from text: String, maxLength: Int = 60) -> String {
        let line =
            text.split(whereSeparator: \.isNewline)
            .first { !$0.allSatisfy(\.isWhitespace) }.map(String.init) ?? ""
        let clean = DisplayText.singleLine(line)
        return clean.count <= maxLength ? clean : String(clean.prefix(maxLength - 1)).trimmingCharacters(in: .whitespaces) + "…"
    }

    /// The model to show for the conversation: the selected one, else the last one that replied.
    public var displayModel: String? {
        model ?? messages.last(where: { $0.model != nil })?.model
    }

    private enum CodingKeys: String, CodingKey {
        case version, id, title, created, updated, systemPrompt, settings, model, messages
    }

    /// The version is read first: a future version is refused before anything else is trusted.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        if version > Conversation.currentVersion { throw FutureVersionError(version: version) }
        if version < 1 {
            throw DecodingError.dataCorruptedError(forKey: .version, in: c, debugDescription: "unknown version \(version)")
        }
        id = try c.decode(String.self, forKey: .id)
        title = try c.decodeIfPresent(String.self, forKey: .title) ?? Conversation.defaultTitle
        created = try c.decode(Date.self, forKey: .created)
        updated = try c.decodeIfPresent(Date.self, forKey: .updated) ?? created
        systemPrompt = try c.decodeIfPresent(String.self, forKey: .systemPrompt)
        settings = try c.decodeIfPresent(SamplingSettings.self, forKey: .settings) ?? SamplingSettings()
        model = try c.decodeIfPresent(String.self, forKey: .model)
        messages = try c.decode([Message].self, forKey: .messages)
    }
}
