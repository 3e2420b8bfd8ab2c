// PLACEHOLDER until the forward pass lands.
final class GemmaModel: LanguageModel {
    let config: ModelConfig
    init(gguf: GGUFFile) throws { throw EngineError.unsupported("not yet") }
    func makeState(capacity: Int) -> ModelState { fatalError() }
    func forward(_ tokens: [Int], state: ModelState, logitRows: [Int], sparsity: SparsityMode,
                 stats: UnsafeMutablePointer<[TokenStats]>?) throws -> [Float] { [] }
}
