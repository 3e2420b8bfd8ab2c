// PLACEHOLDER: the TUI replaces this.
import ArgumentParser
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "Open the chat (the default).")
    @Option(name: .long, help: "Model path or catalog name.") var model: String?
    @Option(name: .long, help: "Session id to continue.") var session: String?
    @Option(name: .long, help: "Colour theme.") var theme: String?
    func run() throws { print("chat: not yet") }
}
