import Foundation

/// A colour theme, read from a JSON data file (themes/dark.json and friends):
/// `{"name": "dark", "roles": {"user": {"fg": 117, "bg": -1, "fg8": "cyan", "bg8": "default", "bold": true}, ...}}`.
/// `fg`/`bg` are 256-colour indexes (-1 = the terminal's default) used when the
/// terminal has 256 colours; `fg8`/`bg8` name one of the 8 basic colours otherwise.
/// Roles a theme leaves out look like `normal`.
struct Theme: Sendable, Equatable {
    struct Style: Codable, Sendable, Equatable {
        var fg: Int? = nil, bg: Int? = nil
        var fg8: String? = nil, bg8: String? = nil
        var bold: Bool? = nil, reverse: Bool? = nil, underline: Bool? = nil, dim: Bool? = nil
    }
    private struct File: Codable { var name: String?; var roles: [String: Style] }

    var name: String
    var styles: [StyleRole: Style]

    func style(_ role: StyleRole) -> Style {
        if let s = styles[role] { return s }
        // The Markdown roles came after theme files did: derive them, so older files still look right.
        var s = styles[.normal] ?? Style()
        switch role {
        case .heading: s = styles[.title] ?? s; s.bold = true
        case .strong: s.bold = true
        case .emphasis, .link: s.underline = true
        case .inlineCode: s = styles[.code] ?? Style(reverse: true)
        case .quote: s = styles[.meta] ?? s
        default: break
        }
        return s
    }

    static let basicColors = [
        "default": -1, "black": 0, "red": 1, "green": 2, "yellow": 3,
        "blue": 4, "magenta": 5, "cyan": 6, "white": 7
    ]

    /// Text from a theme file as it appears in an error: one short line, control
    /// characters escaped (the error is shown in the status line).
    static func quote(_ s: String) -> String {
        let escaped = s.unicodeScalars.prefix(80).map { u in
            u.properties.generalCategory == .control ? u.escaped(asASCII: true) : String(u)
        }.joined()
        return s.unicodeScalars.count > 80 ? escaped + "…" : escaped
    }

    /// Parses a theme file; errors are one line naming the problem.
    static func parse(_ data: Data, name: String) throws -> Theme {
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw ChatError(description: "theme \(name): not a valid theme JSON file")
        }
        var styles: [StyleRole: Style] = [:]
        for (key, style) in file.roles {
            guard let role = StyleRole(rawValue: key) else { continue }  // newer roles: ignore
            for c in [style.fg, style.bg].compactMap({ $0 }) where c < -1 || c > 255 {
                throw ChatError(description: "theme \(name): role \(Theme.quote(key)): colour \(c) is not in -1...255")
            }
            for c in [style.fg8, style.bg8].compactMap({ $0 }) where basicColors[c] == nil {
                throw ChatError(description: "theme \(name): role \(Theme.quote(key)): unknown colour name \(Theme.quote(c))")
            }
            styles[role] = style
        }
        return Theme(name: file.name ?? name, styles: styles)
    }

    /// Where theme files are looked for (see DataDirectories).
    static func searchDirectories(configDirectory: URL) -> [URL] {
        DataDirectories.search("themes", configDirectory: configDirectory)
    }

    /// Loads the named theme (a name from themes/ or a path to a .json file).
    static func load(_ nameOrPath: String, configDirectory: URL) throws -> Theme {
        if nameOrPath.contains("/") {
            guard let data = FileManager.default.contents(atPath: nameOrPath) else {
                throw ChatError(description: "cannot read theme file \(nameOrPath)")
            }
            return try parse(data, name: nameOrPath)
        }
        guard nameOrPath.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ChatError(description: "bad theme name \(nameOrPath)")
        }
        for dir in searchDirectories(configDirectory: configDirectory) {
            let url = dir.appendingPathComponent(nameOrPath + ".json")
            if let data = FileManager.default.contents(atPath: url.path) { return try parse(data, name: nameOrPath) }
        }
        if nameOrPath == "dark" { return .fallback }
        throw ChatError(description: "theme \(nameOrPath) not found (looked for \(nameOrPath).json in themes/ and \(configDirectory.path)/themes)")
    }

    /// Used when no theme file can be found at all (an installed binary without its
    /// data): attributes only, so it reads on any terminal.
    static let fallback = Theme(
        name: "fallback",
        styles: [
            .title: Style(bold: true), .status: Style(reverse: true), .selected: Style(reverse: true),
            .user: Style(bold: true), .error: Style(bold: true), .dim: Style(dim: true), .meta: Style(dim: true),
            .cursorLine: Style(reverse: true), .barHigh: Style(bold: true)
        ])
}

/// A one-line error of the chat front end (theme, terminal, session).
struct ChatError: Error, CustomStringConvertible { let description: String }
