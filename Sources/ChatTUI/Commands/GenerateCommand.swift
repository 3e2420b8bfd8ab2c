// PLACEHOLDER until the engine lands.
import ArgumentParser
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate")
    func run() throws { print("generate: not yet") }
}
