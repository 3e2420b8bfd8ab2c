// tokenizer.model (SentencePiece protobuf) into the BPE tokenizer, then encode/decode.
import FuzzSupport

@testable import Inference

FuzzDriver.run { bytes in
    if let tok = Oracle.parse("tokenizer-model", { try SentencePieceTokenizer.fromSentencePieceModel(bytes: bytes) }) {
        Exercise.tokenizer(tok)
    }
}
