// PLACEHOLDER until the engine lands.
import ArgumentParser
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models")
    func run() throws { print("models: not yet") }
}
