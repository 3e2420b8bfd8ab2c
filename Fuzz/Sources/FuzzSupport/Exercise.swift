import Foundation

@testable import Inference

/// Uses what a parser accepted, so that a lie it let through (an offset past the end,
/// a bad vocabulary) turns into a crash or an ASan report here rather than later in the app.
public enum Exercise {
    /// The types CKernels' ck_dequantize_row decodes (ck_type_supported); the others are refused at model load.
    static let dequantizable: Set<GGMLType> = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    /// Reads every byte range a GGUF file claims and dequantizes the first row of each tensor.
    public static func gguf(_ g: GGUFFile) {
        var sum: UInt64 = 0
        for t in g.tensors.values {
            check(
                t.offset >= g.dataOffset && t.byteCount >= 0 && t.offset + t.byteCount <= g.file.count,
                "tensor \(t.name) lies outside the file")
            let p = g.pointer(t).assumingMemoryBound(to: UInt8.self)
            if t.byteCount > 0 { sum &+= UInt64(p[0]) &+ UInt64(p[t.byteCount - 1]) }
            if dequantizable.contains(t.type), t.rowLength <= 1 << 16 {
                var row = [Float](repeating: 0, count: t.rowLength)
                WeightMatrix(type: t.type, rows: 1, cols: t.rowLength, data: g.pointer(t)).row(0, into: &row)
            }
        }
        if g.metadata["tokenizer.ggml.tokens"] != nil,
            let tok = Oracle.parse("gguf tokenizer", { try SentencePieceTokenizer.fromGGUF(g) })
        {
            tokenizer(tok)
        }
        blackHole(sum)
    }

    /// Encodes text that reaches byte fallback, user-defined pieces and control tokens,
    /// and checks every id is in the vocabulary.
    public static func tokenizer(_ tok: TextTokenizer) {
        let ids = tok.encode("the abc\n\n  x<start_of_turn>ü😀\u{0}", addBOS: true)
        for id in ids { check(id >= 0 && id < tok.vocabularySize, "token id \(id) outside the vocabulary") }
        blackHole(UInt64(tok.decode(ids).utf8.count))
    }

    /// Reads the first and last byte of each tensor a safetensors file claims.
    public static func safetensors(_ f: SafetensorsFile) {
        var sum: UInt64 = 0
        for t in f.tensors.values {
            check(
                t.offset >= 8 && t.byteCount >= 0 && t.offset + t.byteCount <= f.file.count,
                "tensor \(t.name) lies outside the file")
            guard t.byteCount > 0 else { continue }
            let p = f.pointer(t).assumingMemoryBound(to: UInt8.self)
            sum &+= UInt64(p[0]) &+ UInt64(p[t.byteCount - 1])
        }
        blackHole(sum)
    }

    @inline(never) public static func blackHole(_ v: UInt64) { if v == 0x5eed_5eed_5eed_5eed { print("") } }
}
