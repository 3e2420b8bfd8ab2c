import ArgumentParser
import Foundation
import Serve
import Sessions

/// `sparkchat sessions list|show|export|delete|rename`: the saved conversations.
struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions", abstract: "List, show, export or delete saved conversations.",
        subcommands: [List.self, Show.self, Export.self, Delete.self, Rename.self],
        defaultSubcommand: List.self)
}

/// Where the sessions live; `--dir` overrides XDG for tests and scripts.
struct SessionDirectoryOptions: ParsableArguments {
    @Option(name: .long, help: "Sessions directory (default: $XDG_DATA_HOME/sparkchat/sessions).")
    var dir: String?

    func store() throws -> SessionStore {
        try SessionStore(directory: dir.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? SessionStore.defaultDirectory())
    }
}

/// One line per skipped or damaged file, on stderr, so stdout stays a clean table.
private func report(_ notices: [String]) {
    for n in notices { FileHandle.standardError.write(Data("sparkchat: \(DisplayText.singleLine(n))\n".utf8)) }
}

/// Writes a whole transcript to stdout in one go (`Data(s.utf8)` copies the bytes once;
/// `emit`'s `data(using:)` goes through NSString, slow for a 50 MB transcript).
private func write(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}

extension SessionsCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Table of saved conversations, newest first.")
        @OptionGroup var location: SessionDirectoryOptions
        @Flag(name: .long, help: "One JSON object per session.") var json = false

        func run() throws {
            let store = try location.store()
            let (sessions, notices) = store.list()
            if json {
                for s in sessions {
                    emit(
                        JSONText.object([
                            ("id", JSONText.string(s.id)), ("title", JSONText.string(s.title)),
                            ("created", JSONText.string(Exporter.isoTime(s.created))),
                            ("updated", JSONText.string(Exporter.isoTime(s.updated))),
                            ("messages", String(s.messageCount)),
                            ("model", s.model.map(JSONText.string) ?? "null")
                        ]))
                }
            } else if sessions.isEmpty {
                emit("no sessions in \(store.directory.path)")
            } else {
                let rows =
                    [["ID", "UPDATED (UTC)", "MSGS", "MODEL", "TITLE"]]
                    + sessions.map {
                        [
                            $0.id, Exporter.shortTime($0.updated), String($0.messageCount),
                            DisplayText.truncate(DisplayText.singleLine($0.model ?? "-"), to: 28),
                            DisplayText.truncate(DisplayText.singleLine($0.title), to: 60)
                        ]
                    }
                let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
                for r in rows {
                    emit(
                        r.enumerated().map { i, cell in
                            i == r.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                        }.joined(separator: "  "))
                }
            }
            report(notices)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a conversation as a readable transcript.")
        @OptionGroup var location: SessionDirectoryOptions
        @Argument(help: "Session id (from `sparkchat sessions list`).") var id: String

        func run() throws {
            let (c, notice) = try location.store().open(id: id)
            report(notice.map { [$0] } ?? [])
            // Session text is untrusted: no escape sequences reach the terminal.
            write(DisplayText.forTerminal(try Exporter.render(c, as: .txt)))
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export", abstract: "Export a conversation as Markdown, plain text, HTML or JSON.")
        @OptionGroup var location: SessionDirectoryOptions
        @Argument(help: "Session id (from `sparkchat sessions list`).") var id: String
        @Option(name: .long, help: "Format (default: the extension of -o, else md).") var format: ExportFormat?
        @Option(name: .shortAndLong, help: "Write to this file (default: standard output).") var output: String?

        /// `--format`, else what `-o`'s extension names (`notes.html`), else Markdown.
        var chosenFormat: ExportFormat {
            if let format { return format }
            let ext = output.map { URL(fileURLWithPath: $0).pathExtension.lowercased() } ?? ""
            return ExportFormat(rawValue: ext == "markdown" ? "md" : ext == "htm" ? "html" : ext == "text" ? "txt" : ext) ?? .md
        }

        /// A file gets the transcript exactly as stored. Standard output gets Markdown and
        /// plain text with control characters other than newline and tab replaced (U+FFFD),
        /// whether or not it is a terminal: session text is untrusted, and an escape sequence
        /// must not reach a terminal through `| less -R` or a later `cat` either. HTML and
        /// JSON escape control characters themselves.
        func run() throws {
            let (c, notice) = try location.store().open(id: id)
            report(notice.map { [$0] } ?? [])
            if let output {
                try Exporter.write(c, as: chosenFormat, to: URL(fileURLWithPath: output))
                FileHandle.standardError.write(Data("exported \(c.id) to \(output)\n".utf8))
            } else {
                let text = try Exporter.render(c, as: chosenFormat)
                write(chosenFormat == .md || chosenFormat == .txt ? DisplayText.forTerminal(text) : text)
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a saved conversation.")
        @OptionGroup var location: SessionDirectoryOptions
        @Argument(help: "Session id (from `sparkchat sessions list`).") var id: String

        func run() throws {
            try location.store().delete(id: id)
            emit("deleted \(id)")
        }
    }

    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rename", abstract: "Give a conversation a new title.")
        @OptionGroup var location: SessionDirectoryOptions
        @Argument(help: "Session id (from `sparkchat sessions list`).") var id: String
        @Argument(help: "The new title.") var title: String

        func validate() throws { try ArgumentCheck.requireUTF8Arguments() }

        func run() throws {
            try location.store().rename(id: id, to: title)
            emit("renamed \(id)")
        }
    }
}
