// PLACEHOLDER until the engine lands.
import ArgumentParser
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench")
    func run() throws { print("bench: not yet") }
}
