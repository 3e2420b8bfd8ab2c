// tokenizer.json (the order-preserving JSON reader and the BPE vocabulary/merges), then encode/decode.
import Foundation
import FuzzSupport

@testable import Inference

FuzzDriver.run { bytes in
    if let tok = Oracle.parse("tokenizer-json", { try SentencePieceTokenizer.fromTokenizerJSON(Data(bytes)) }) {
        Exercise.tokenizer(tok)
    }
}
