import Foundation

/// Reads what can be read of a session file that does not decode as a whole, so that one
/// bad byte or one odd value never hides a whole conversation.
///
/// Two layers, tried in order:
/// 1. Field by field: the JSON parses but some value is wrong (`"version": 1.5`, a count
///    of 2^63, a date that is not one). Each message is decoded on its own; a bad optional
///    field (stats, model, id) is dropped, a bad time borrows the previous message's, and a
///    message without readable role or text is skipped. Every such repair is reported.
/// 2. Line by line: the JSON itself is broken (a flipped byte, a cut-off file). Session
///    files are written pretty-printed, where no string spans a line, so every top-level
///    field and every message occupies its own run of lines: each run is parsed alone and
///    the damaged ones are reported by line number and skipped.
/// Invalid UTF-8 is replaced by U+FFFD first (and reported).
enum SessionSalvage {
    struct Result {
        var conversation: Conversation
        /// One short phrase per repair or skip, naming the field (`messages[3].time: expected a date`).
        var problems: [String]
        var messagesSkipped: Int
    }

    /// Throws FutureVersionError for a newer file, or a SessionError when nothing usable is left.
    static func decode(_ data: Data) throws -> Result {
        let log = ProblemLog()
        var bytes = data
        if String(validating: data, as: UTF8.self) == nil {
            bytes = Data(String(decoding: data, as: UTF8.self).utf8)
            log.add("invalid UTF-8 replaced by \u{FFFD}")
        }
        if let whole = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) {
            guard whole is [String: Any] else { throw SessionError("not a JSON object") }
            return try decodeFields(bytes, log: log)
        }
        return try decodeLines(bytes, log: log)
    }

    // MARK: Layer 1: field by field

    private static func decodeFields(_ data: Data, log: ProblemLog) throws -> Result {
        let d = SessionFile.decoder()
        d.userInfo[ProblemLog.key] = log
        do {
            let c = try d.decode(LenientConversation.self, from: data)
            return Result(conversation: c.value, problems: log.problems, messagesSkipped: log.skipped)
        } catch let e as FutureVersionError {
            throw e
        } catch let e as SessionError {
            throw e
        } catch {
            throw SessionError("not a session file")
        }
    }

    // MARK: Layer 2: line by line

    /// Splits the pretty-printed file into top-level members and message objects, keeps
    /// the runs that parse alone, and decodes the reassembled document field by field.
    private static func decodeLines(_ data: Data, log: ProblemLog) throws -> Result {
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        var members: [String] = []
        var messages: [(index: Int, text: String)] = []
        var sawMessages = false
        var damaged: [Int] = []
        var i = 0
        // The run of lines from `start` up to and including the line closing an indented block.
        func block(from start: Int, indent: String) -> (text: String, next: Int) {
            var j = start + 1
            while j < lines.count {
                let l = lines[j]
                if l == indent + "}" || l == indent + "}," || l == indent + "]" || l == indent + "]," { break }
                j += 1
            }
            let end = min(j, lines.count - 1)
            return (lines[start...end].joined(separator: "\n"), end + 1)
        }
        func parses(_ json: String) -> Bool { (try? JSONSerialization.jsonObject(with: Data(json.utf8))) != nil }

        while i < lines.count {
            let line = lines[i]
            if i == 0 && line.trimmingCharacters(in: .whitespaces) == "{" { i += 1; continue }
            if line == "}" || line.allSatisfy(\.isWhitespace) { i += 1; continue }
            guard line.hasPrefix("  \""), !line.hasPrefix("   ") else { damaged.append(i + 1); i += 1; continue }
            let opensBlock = line.hasSuffix("[") || line.hasSuffix("{")
            if line.hasPrefix("  \"messages\" : [") && opensBlock {
                sawMessages = true
                i += 1
                var index = 0
                while i < lines.count, lines[i] != "  ]", lines[i] != "  ],", !(lines[i].hasPrefix("  \"") && !lines[i].hasPrefix("   ")) {
                    guard lines[i] == "    {" else {
                        if !lines[i].allSatisfy(\.isWhitespace) { damaged.append(i + 1) }
                        i += 1; continue
                    }
                    let (text, next) = block(from: i, indent: "    ")
                    let object = trimComma(text)
                    if parses(object) {
                        messages.append((index, object))
                    } else {
                        log.add("messages[\(index)] skipped: damaged (lines \(i + 1)-\(next))")
                        log.skipped += 1
                    }
                    index += 1
                    i = next
                }
                i += 1
                continue
            }
            let (text, next) = opensBlock ? block(from: i, indent: "  ") : (String(line), i + 1)
            let member = trimComma(text)
            if parses("{" + member + "}") { members.append(member) } else { damaged.append(i + 1) }
            i = next
        }
        guard !members.isEmpty || !messages.isEmpty else { throw SessionError("not valid JSON, and no part of it is readable") }
        if !damaged.isEmpty {
            let shown = damaged.prefix(5).map(String.init).joined(separator: ", ") + (damaged.count > 5 ? ", …" : "")
            log.add("damaged line\(damaged.count == 1 ? "" : "s") \(shown) skipped")
        }
        if !sawMessages { log.add("messages: not found") }
        let document = "{" + (members + ["\"messages\" : []"]).joined(separator: ",\n") + "}"
        var result = try decodeFields(Data(document.utf8), log: log)
        // Each surviving message decodes alone, under its index in the original file.
        let d = SessionFile.decoder()
        d.userInfo[ProblemLog.key] = log
        for (index, text) in messages {
            log.messagePath = "messages[\(index)]"
            if let m = (try? d.decode(LenientMessage.self, from: Data(text.utf8)))?.value {
                result.conversation.messages.append(m)
            }
        }
        log.messagePath = nil
        LenientConversation.fillTimes(&result.conversation)
        result.problems = log.problems
        result.messagesSkipped = log.skipped
        return result
    }

    private static func trimComma(_ s: String) -> String {
        s.hasSuffix(",") ? String(s.dropLast()) : s
    }
}

/// Collects the repairs made while salvaging (a class, so decoders can share it via userInfo).
final class ProblemLog: @unchecked Sendable {
    static let key = CodingUserInfoKey(rawValue: "sparkchat.salvage.log")!
    var problems: [String] = []
    var skipped = 0
    /// Set while a message is decoded on its own (line salvage), so problems keep its original index.
    var messagePath: String?
    func add(_ p: String) { problems.append(p) }

    /// `s` as one short line: control characters escaped, at most 200 characters. Decoding
    /// errors quote the file's own text (an invalid enum value, a key), and a message
    /// shown in a status line or on stderr must stay one line.
    static func oneLine(_ s: String) -> String {
        var out = ""
        var count = 0
        for u in s.unicodeScalars {
            if count >= 200 { return out + "…" }
            count += 1
            if u.properties.generalCategory == .control || u == "\u{2028}" || u == "\u{2029}" {
                out += u.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func path(_ keys: [CodingKey]) -> String {
        var s = ""
        for k in keys {
            if let i = k.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
        }
        return s
    }
}

/// Decodes one optional field: a missing key gives nil quietly, a bad value gives nil and
/// a problem naming the field and what was expected.
private func lenient<T: Decodable, K: CodingKey>(
    _ c: KeyedDecodingContainer<K>, _ key: K, _ type: T.Type,
    expected: String, at path: String, _ log: ProblemLog
) -> T? {
    guard c.contains(key) else { return nil }
    if (try? c.decodeNil(forKey: key)) == true { return nil }
    if let v = try? c.decode(T.self, forKey: key) { return v }
    log.add("\(path.isEmpty ? "" : path + ".")\(key.stringValue): expected \(expected)")
    return nil
}

private func date<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K, at path: String, _ log: ProblemLog) -> Date? {
    guard let s = lenient(c, key, String.self, expected: "a date", at: path, log) else { return nil }
    if let d = ISODate.parse(s) { return d }
    log.add("\(path.isEmpty ? "" : path + ".")\(key.stringValue): expected a date")
    return nil
}

private struct Skip: Decodable { init(from decoder: Decoder) throws {} }

/// A Conversation decoded field by field (see SessionSalvage).
struct LenientConversation: Decodable {
    var value: Conversation

    private enum Key: String, CodingKey {
        case version, id, title, created, updated, systemPrompt, settings, model, messages
    }

    init(from decoder: Decoder) throws {
        guard let log = decoder.userInfo[ProblemLog.key] as? ProblemLog else { throw SessionError("no problem log") }
        guard let c = try? decoder.container(keyedBy: Key.self) else { throw SessionError("not a JSON object") }
        // The version decides whether anything else may be trusted: a newer file is refused.
        if let v = try? c.decode(Int.self, forKey: .version) {
            if v > Conversation.currentVersion { throw FutureVersionError(version: v) }
            if v < 1 { log.add("version: \(v) is not a version; read as version \(Conversation.currentVersion)") }
        } else if let d = try? c.decode(Double.self, forKey: .version), d.isFinite, d >= Double(Conversation.currentVersion + 1) {
            throw FutureVersionError(version: d < 1e9 ? Int(d) : Int(1e9))
        } else {
            log.add("version: expected an integer; read as version \(Conversation.currentVersion)")
        }
        var conv = Conversation(id: lenient(c, .id, String.self, expected: "text", at: "", log) ?? "salvaged")
        conv.title = lenient(c, .title, String.self, expected: "text", at: "", log) ?? Conversation.defaultTitle
        let created = date(c, .created, at: "", log)
        let updated = date(c, .updated, at: "", log)
        conv.systemPrompt = lenient(c, .systemPrompt, String.self, expected: "text", at: "", log)
        conv.model = lenient(c, .model, String.self, expected: "text", at: "", log)
        if c.contains(.settings) {
            if let s = try? c.decode(LenientSettings.self, forKey: .settings) {
                conv.settings = s.value
            } else {
                log.add("settings: expected an object; defaults used")
            }
        }
        if let list = try? c.nestedUnkeyedContainer(forKey: .messages) {
            var list = list
            while !list.isAtEnd {
                let index = list.currentIndex
                log.messagePath = nil
                if let m = try? list.decode(LenientMessage.self) {
                    if let v = m.value { conv.messages.append(v) }
                } else {
                    log.add("messages[\(index)] skipped: expected an object")
                    log.skipped += 1
                }
                if list.currentIndex == index { _ = try? list.decode(Skip.self) }
                if list.currentIndex == index { break }  // cannot advance: stop rather than spin
            }
        } else if c.contains(.messages) {
            log.add("messages: expected a list")
        }
        conv.created = created ?? updated ?? conv.messages.first?.time ?? Date(timeIntervalSince1970: 0)
        conv.updated = updated ?? max(conv.created, conv.messages.last?.time ?? conv.created)
        if created == nil, c.contains(.created) == false { log.add("created: missing") }
        LenientConversation.fillTimes(&conv)
        value = conv
    }

    /// A message whose time was unreadable (marked with .distantPast) takes the time of the
    /// message before it, else the conversation's creation time.
    static func fillTimes(_ c: inout Conversation) {
        var previous = c.created
        for i in c.messages.indices {
            if c.messages[i].time == .distantPast { c.messages[i].time = previous }
            previous = c.messages[i].time
        }
    }
}

/// A Message decoded field by field; `value` is nil (and the skip reported) when neither
/// its role nor its text can be read, since then there is nothing to show.
struct LenientMessage: Decodable {
    var value: Message?

    private enum Key: String, CodingKey { case id, role, text, model, time, stats, interrupted }

    init(from decoder: Decoder) throws {
        guard let log = decoder.userInfo[ProblemLog.key] as? ProblemLog else { throw SessionError("no problem log") }
        let path = log.messagePath ?? ProblemLog.path(decoder.codingPath)
        let c = try decoder.container(keyedBy: Key.self)
        let role = lenient(c, .role, Role.self, expected: "system, user or assistant", at: path, log)
        let text = lenient(c, .text, String.self, expected: "text", at: path, log)
        guard let role, let text else {
            log.add("\(path) skipped: no readable \(role == nil ? "role" : "text")")
            log.skipped += 1
            value = nil
            return
        }
        var m = Message(role: role, text: text, time: .distantPast)
        if let id = lenient(c, .id, UUID.self, expected: "a UUID", at: path, log) { m.id = id }
        m.model = lenient(c, .model, String.self, expected: "text", at: path, log)
        if let t = date(c, .time, at: path, log) { m.time = t } else if !c.contains(.time) { log.add("\(path).time: missing") }
        if c.contains(.stats) {
            do { m.stats = try c.decodeIfPresent(MessageStats.self, forKey: .stats) } catch {
                log.add("\(path).stats: \(describeValueError(error, under: "stats")); stats dropped")
            }
        }
        m.interrupted = lenient(c, .interrupted, Bool.self, expected: "true or false", at: path, log) ?? false
        value = m
    }
}

/// SamplingSettings field by field: a bad value keeps that field's default.
struct LenientSettings: Decodable {
    var value = SamplingSettings()

    private enum Key: String, CodingKey {
        case temperature, topK, topP, minP, repetitionPenalty, seed, maxTokens, sparsity, speculative
    }

    init(from decoder: Decoder) throws {
        guard let log = decoder.userInfo[ProblemLog.key] as? ProblemLog else { throw SessionError("no problem log") }
        let c = try decoder.container(keyedBy: Key.self)
        let p = "settings"
        if let v = lenient(c, .temperature, Double.self, expected: "a number", at: p, log) { value.temperature = v }
        if let v = lenient(c, .topK, Int.self, expected: "an integer", at: p, log) { value.topK = v }
        if let v = lenient(c, .topP, Double.self, expected: "a number", at: p, log) { value.topP = v }
        if let v = lenient(c, .minP, Double.self, expected: "a number", at: p, log) { value.minP = v }
        if let v = lenient(c, .repetitionPenalty, Double.self, expected: "a number", at: p, log) { value.repetitionPenalty = v }
        value.seed = lenient(c, .seed, UInt64.self, expected: "an integer", at: p, log)
        if let v = lenient(c, .maxTokens, Int.self, expected: "an integer", at: p, log) { value.maxTokens = v }
        if let v = lenient(c, .sparsity, String.self, expected: "text", at: p, log) { value.sparsity = v }
        value.speculative = lenient(c, .speculative, String.self, expected: "text", at: p, log)
    }
}

/// "promptTokens: expected an integer" from an error thrown inside a nested value.
func describeValueError(_ error: Error, under root: String) -> String {
    guard let e = error as? DecodingError else { return "a number out of range" }
    switch e {
    case .typeMismatch(let type, let ctx), .valueNotFound(let type, let ctx):
        let p = ProblemLog.path(ctx.codingPath.drop { $0.stringValue != root }.dropFirst().map { $0 })
        return (p.isEmpty ? "" : p + ": ") + "expected " + SessionFile.expectation(type)
    case .keyNotFound(let key, _): return "\(ProblemLog.oneLine(key.stringValue)): missing"
    case .dataCorrupted(let ctx): return ProblemLog.oneLine(ctx.debugDescription)
    @unknown default: return "unreadable"
    }
}
