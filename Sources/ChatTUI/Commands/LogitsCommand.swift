// PLACEHOLDER until the engine lands.
import ArgumentParser
struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logits")
    func run() throws { print("logits: not yet") }
}
