// TEMPORARY shim of the Sessions API (sessions-api.md) so the TUI builds before the
// sessions branch lands; deleted when it is merged. Not the real implementation.
import Foundation

public enum Role: String, Codable, Sendable { case system, user, assistant }
public struct MessageStats: Codable, Equatable, Sendable {
    public var promptTokens: Int, generatedTokens: Int
    public var prefillTPS: Double, decodeTPS: Double, timeToFirstTokenMs: Double
    public var meanActiveFFN: Double
    public var flops: Double, flopsDense: Double
    public var speculativeAcceptance: Double?
    public init(promptTokens: Int = 0, generatedTokens: Int = 0, prefillTPS: Double = 0, decodeTPS: Double = 0,
                timeToFirstTokenMs: Double = 0, meanActiveFFN: Double = 0, flops: Double = 0, flopsDense: Double = 0,
                speculativeAcceptance: Double? = nil) {
        self.promptTokens = promptTokens; self.generatedTokens = generatedTokens; self.prefillTPS = prefillTPS
        self.decodeTPS = decodeTPS; self.timeToFirstTokenMs = timeToFirstTokenMs; self.meanActiveFFN = meanActiveFFN
        self.flops = flops; self.flopsDense = flopsDense; self.speculativeAcceptance = speculativeAcceptance
    }
}
public struct Message: Codable, Equatable, Sendable, Identifiable {
    public var id: UUID; public var role: Role; public var text: String
    public var model: String?; public var time: Date; public var stats: MessageStats?
    public var interrupted: Bool
    public init(role: Role, text: String, model: String? = nil, time: Date = Date(), stats: MessageStats? = nil, interrupted: Bool = false) {
        id = UUID(); self.role = role; self.text = text; self.model = model; self.time = time; self.stats = stats; self.interrupted = interrupted
    }
}
public struct SamplingSettings: Codable, Equatable, Sendable {
    public var temperature: Double = 0.7, topK: Int = 64, topP: Double = 0.95, minP: Double = 0
    public var repetitionPenalty: Double = 1, seed: UInt64? = nil, maxTokens: Int = 1024
    public var sparsity: String = "off"
    public var speculative: String? = nil
    public init() {}
}
public struct Conversation: Codable, Equatable, Sendable, Identifiable {
    public static let currentVersion = 1
    public var version: Int; public var id: String
    public var title: String
    public var created: Date, updated: Date
    public var systemPrompt: String?; public var settings: SamplingSettings
    public var model: String?
    public var messages: [Message]
    public init(id: String = Conversation.newID(), title: String = "New chat", systemPrompt: String? = nil, settings: SamplingSettings = .init(), model: String? = nil) {
        version = 1; self.id = id; self.title = title; created = Date(); updated = created
        self.systemPrompt = systemPrompt; self.settings = settings; self.model = model; messages = []
    }
    public static func newID(now: Date = Date()) -> String {
        let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"; f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: now) + "-" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
    }
    public mutating func append(_ m: Message) {
        if m.role == .user && !messages.contains(where: { $0.role == .user }) { title = String(m.text.prefix(60)) }
        messages.append(m); updated = Date()
    }
}
public struct SessionSummary: Sendable, Equatable { public var id, title: String; public var created, updated: Date; public var messageCount: Int; public var model: String? }
public struct SessionError: Error, CustomStringConvertible { public let description: String }
public final class SessionStore: @unchecked Sendable {
    let directory: URL
    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    public static func defaultDirectory() -> URL {
        let env = ProcessInfo.processInfo.environment
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/share")
        return URL(fileURLWithPath: data).appendingPathComponent("sparkchat/sessions")
    }
    func url(_ id: String) -> URL { directory.appendingPathComponent(id + ".json") }
    static var encoder: JSONEncoder { let e = JSONEncoder(); e.dateEncodingStrategy = .iso8601; e.outputFormatting = [.prettyPrinted]; return e }
    static var decoder: JSONDecoder { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }
    public func list() -> (sessions: [SessionSummary], notices: [String]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var out: [SessionSummary] = []
        for n in names where n.hasSuffix(".json") {
            if let c = try? load(id: String(n.dropLast(5))) {
                out.append(SessionSummary(id: c.id, title: c.title, created: c.created, updated: c.updated, messageCount: c.messages.count, model: c.model))
            }
        }
        return (out.sorted { $0.updated > $1.updated }, [])
    }
    public func load(id: String) throws -> Conversation {
        guard let d = FileManager.default.contents(atPath: url(id).path) else { throw SessionError(description: "no session \(id)") }
        do { return try SessionStore.decoder.decode(Conversation.self, from: d) } catch { throw SessionError(description: "session \(id) is corrupt") }
    }
    public func save(_ c: Conversation) throws { try SessionStore.encoder.encode(c).write(to: url(c.id), options: .atomic) }
    public func delete(id: String) throws { try FileManager.default.removeItem(at: url(id)) }
    public func rename(id: String, to title: String) throws { var c = try load(id: id); c.title = title; try save(c) }
}
public final class AutoSaver: @unchecked Sendable {
    let store: SessionStore; let interval: TimeInterval; var last = Date.distantPast; var pending: Conversation?
    public init(store: SessionStore, interval: TimeInterval = 0.3) { self.store = store; self.interval = interval }
    public func update(_ c: Conversation) {
        if Date().timeIntervalSince(last) >= interval { try? store.save(c); last = Date(); pending = nil } else { pending = c }
    }
    public func flush() throws { if let p = pending { try store.save(p); pending = nil; last = Date() } }
}
public enum ExportFormat: String, CaseIterable, Sendable { case md, txt, html, json }
public enum Exporter {
    public static func render(_ c: Conversation, as format: ExportFormat) throws -> String {
        c.messages.map { "\($0.role.rawValue): \($0.text)" }.joined(separator: "\n\n")
    }
    public static func write(_ c: Conversation, as format: ExportFormat, to url: URL) throws {
        try render(c, as: format).write(to: url, atomically: true, encoding: .utf8)
    }
}
