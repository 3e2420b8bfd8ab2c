// A whole model through LoadedModel.load(path:) (GGUF reader, config, weights,
// tokenizer), then a few tokens of forward pass when it loads. Seeds: a tiny Gemma 3.
import Foundation
import FuzzSupport
import Inference

setenv("SPARKCHAT_THREADS", "1", 1)  // one core: the machine is shared, and no threads to race
setenv("OPENBLAS_NUM_THREADS", "1", 1)
FuzzDriver.run { bytes in
    let path = Scratch.write(bytes, to: "model.gguf")
    guard let m = Oracle.parse("gguf-load", { try LoadedModel.load(path: path) }) else { return }
    let ids = m.tokenizer.encode("the abc", addBOS: true)
    for id in ids { check(id >= 0 && id < m.config.vocabularySize, "token id \(id) has no embedding row") }
    let tokens = Array(ids.prefix(8))
    guard !tokens.isEmpty else { return }
    let state = m.model.makeState(capacity: min(m.config.contextLength, 16))
    Oracle.parse("gguf-load forward") {
        try m.model.forward(tokens, state: state, logitRows: [tokens.count - 1], sparsity: .off, stats: nil)
    }
}
