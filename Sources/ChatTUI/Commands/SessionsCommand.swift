// PLACEHOLDER: the sessions work replaces this.
import ArgumentParser
struct SessionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sessions", abstract: "List, show, export or delete saved conversations.")
    func run() throws { print("sessions: not yet") }
}
