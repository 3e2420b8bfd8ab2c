import Foundation

@testable import Inference

/// A small GGUF writer for tests: builds valid files (so the hostile-file tests start
/// from something the reader accepts) and, through its raw cases, files that lie
/// about lengths, counts, types, dims and offsets. It records where every length and
/// count field landed so the fuzzer can set them to extremes.
struct GGUFWriter {
    /// A metadata value, by GGUF type id. `.rawString`/`.rawArray` write a declared
    /// length or count that need not match what follows.
    indirect enum Value {
        case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float), bool(Bool)
        case string(String), array(UInt32, [Value]), u64(UInt64), i64(Int64), f64(Double)
        case rawString(length: UInt64, bytes: [UInt8])
        case rawArray(elementType: UInt32, count: UInt64, payload: [Value])
        case rawTyped(type: UInt32, bytes: [UInt8])  // any type id followed by any bytes

        var typeId: UInt32 {
            switch self {
            case .u8: return 0
            case .i8: return 1
            case .u16: return 2
            case .i16: return 3
            case .u32: return 4
            case .i32: return 5
            case .f32: return 6
            case .bool: return 7
            case .string, .rawString: return 8
            case .array, .rawArray: return 9
            case .u64: return 10
            case .i64: return 11
            case .f64: return 12
            case .rawTyped(let t, _): return t
            }
        }
    }

    struct Tensor {
        var name: String
        var dims: [UInt64]  // GGML order: dims[0] is the row length
        var type: UInt32
        var data: [UInt8]
        var nDimsOverride: UInt32? = nil
        var offsetOverride: UInt64? = nil  // relative to the data section
    }

    var version: UInt32 = 3
    var magic: UInt32 = 0x4655_4747
    var metadata: [(String, Value)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    var tensorCountOverride: UInt64? = nil
    var kvCountOverride: UInt64? = nil

    /// Byte offsets of every u64 length/count field in the last `bytes()` output.
    private(set) var lengthFields: [Int] = []

    mutating func add(_ key: String, _ v: Value) { metadata.append((key, v)) }

    mutating func addTensor(_ name: String, dims: [Int], type: GGMLType, data: [UInt8]? = nil) {
        let count = dims.reduce(1, *)
        let bytes = type.rowBytes(count) ?? 0
        tensors.append(
            Tensor(
                name: name, dims: dims.map(UInt64.init), type: type.rawValue,
                data: data ?? (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }))
    }

    /// F32 tensor from floats.
    mutating func addF32(_ name: String, dims: [Int], _ values: [Float]) {
        var d: [UInt8] = []
        d.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d += $0 } }
        tensors.append(Tensor(name: name, dims: dims.map(UInt64.init), type: GGMLType.f32.rawValue, data: d))
    }

    mutating func bytes() -> [UInt8] {
        var out: [UInt8] = []
        var fields: [Int] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func putLength(_ v: UInt64) { fields.append(out.count); put(v) }
        func putString(_ s: String) { putLength(UInt64(s.utf8.count)); out += Array(s.utf8) }
        func putValue(_ v: Value) {
            switch v {
            case .u8(let x): put(x)
            case .i8(let x): put(x)
            case .u16(let x): put(x)
            case .i16(let x): put(x)
            case .u32(let x): put(x)
            case .i32(let x): put(x)
            case .f32(let x): put(x.bitPattern)
            case .bool(let b): put(UInt8(b ? 1 : 0))
            case .string(let s): putString(s)
            case .array(let et, let items):
                put(et); putLength(UInt64(items.count)); for i in items { putValue(i) }
            case .u64(let x): put(x)
            case .i64(let x): put(x)
            case .f64(let x): put(x.bitPattern)
            case .rawString(let n, let b): putLength(n); out += b
            case .rawArray(let et, let n, let items): put(et); putLength(n); for i in items { putValue(i) }
            case .rawTyped(_, let b): out += b
            }
        }
        put(magic)
        put(version)
        putLength(tensorCountOverride ?? UInt64(tensors.count))
        putLength(kvCountOverride ?? UInt64(metadata.count))
        for (k, v) in metadata { putString(k); put(v.typeId); putValue(v) }
        // Tensor data laid out in order, each aligned.
        var rel: [UInt64] = []
        var cursor = 0
        for t in tensors {
            rel.append(UInt64(cursor))
            cursor = (cursor + t.data.count + alignment - 1) / alignment * alignment
        }
        for (i, t) in tensors.enumerated() {
            putString(t.name)
            put(t.nDimsOverride ?? UInt32(t.dims.count))
            for d in t.dims { putLength(d) }
            put(t.type)
            putLength(t.offsetOverride ?? rel[i])
        }
        let start = (out.count + alignment - 1) / alignment * alignment
        out += [UInt8](repeating: 0, count: start - out.count)
        for (i, t) in tensors.enumerated() {
            let at = start + Int(rel[i])
            if out.count < at { out += [UInt8](repeating: 0, count: at - out.count) }
            out += t.data
        }
        lengthFields = fields
        return out
    }

    /// Parses bytes through the same code as files, from an in-memory map.
    static func parse(_ bytes: [UInt8]) throws -> GGUFFile {
        try GGUFFile(file: bytes.withUnsafeBytes { try MappedFile(copying: $0) })
    }

    /// This process's scratch folder (tmpfs when there is one: the model fuzzer writes thousands of files).
    static var temporaryDirectory: URL {
        let tmp =
            FileManager.default.isWritableFile(atPath: "/dev/shm")
            ? URL(fileURLWithPath: "/dev/shm")
            : FileManager.default.temporaryDirectory
        return tmp.appendingPathComponent("sparkchat-gguf-tests-\(getpid())")
    }
    static func removeTemporaryFiles() { try? FileManager.default.removeItem(at: temporaryDirectory) }

    /// Writes bytes to a fresh temporary file and returns its path.
    static func temporaryFile(_ bytes: [UInt8], name: String = "model") throws -> String {
        let dir = temporaryDirectory
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("\(name)-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        return url.path
    }
}

extension GGUFWriter {
    /// A tiny but complete Gemma 3 model (1 layer, hidden 32, vocabulary of 300
    /// pieces with byte fallback) that LoadedModel.load accepts and can run.
    static func tinyGemma3(seed: UInt64 = 1) -> GGUFWriter {
        var w = GGUFWriter()
        var rng = SplitMix64(seed: seed)
        func rand(_ n: Int, _ scale: Float = 0.2) -> [Float] { (0..<n).map { _ in (Float(rng.next() % 2001) / 1000 - 1) * scale } }
        let hidden = 32, ffn = 64, heads = 2, kvHeads = 1, headDim = 16
        w.add("general.architecture", .string("gemma3"))
        w.add("general.name", .string("tiny-gemma3"))
        w.add("general.alignment", .u32(32))
        w.add("gemma3.context_length", .u32(128))
        w.add("gemma3.embedding_length", .u32(UInt32(hidden)))
        w.add("gemma3.block_count", .u32(1))
        w.add("gemma3.feed_forward_length", .u32(UInt32(ffn)))
        w.add("gemma3.attention.head_count", .u32(UInt32(heads)))
        w.add("gemma3.attention.head_count_kv", .u32(UInt32(kvHeads)))
        w.add("gemma3.attention.key_length", .u32(UInt32(headDim)))
        w.add("gemma3.attention.value_length", .u32(UInt32(headDim)))
        w.add("gemma3.attention.layer_norm_rms_epsilon", .f32(1e-6))
        w.add("gemma3.attention.sliding_window", .u32(16))
        w.add("gemma3.rope.freq_base", .f32(1_000_000))
        // Vocabulary: pad, eos, bos, unk, turn markers, 256 byte tokens, some pieces.
        var pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
        var types: [Int32] = [3, 3, 3, 2, 3, 3]
        for b in 0..<256 { pieces.append(String(format: "<0x%02X>", b)); types.append(6) }
        for p in ["▁", "a", "b", "c", "▁a", "ab", "▁ab", "abc", "\n", "\n\n", "  ", "▁the", "h", "e", "t", "he", "the"] {
            pieces.append(p)
            // Whitespace runs are user-defined tokens in Gemma's vocabulary (matched before BPE).
            types.append(p == "\n\n" || p == "  " ? 4 : 1)
        }
        let vocab = pieces.count
        w.add("tokenizer.ggml.model", .string("llama"))
        w.add("tokenizer.ggml.tokens", .array(8, pieces.map { .string($0) }))
        w.add("tokenizer.ggml.scores", .array(6, (0..<vocab).map { .f32(-Float($0)) }))
        w.add("tokenizer.ggml.token_type", .array(5, types.map { .i32($0) }))
        w.add("tokenizer.ggml.bos_token_id", .u32(2))
        w.add("tokenizer.ggml.eos_token_id", .u32(1))
        w.add("tokenizer.ggml.unknown_token_id", .u32(3))
        w.add("tokenizer.ggml.add_space_prefix", .bool(false))

        let qd = heads * headDim, kvd = kvHeads * headDim
        w.addF32("token_embd.weight", dims: [hidden, vocab], rand(hidden * vocab))
        w.addF32("output_norm.weight", dims: [hidden], rand(hidden, 1))
        let p = "blk.0."
        w.addF32(p + "attn_norm.weight", dims: [hidden], rand(hidden, 1))
        w.addF32(p + "attn_q.weight", dims: [hidden, qd], rand(hidden * qd))
        w.addF32(p + "attn_k.weight", dims: [hidden, kvd], rand(hidden * kvd))
        w.addF32(p + "attn_v.weight", dims: [hidden, kvd], rand(hidden * kvd))
        w.addF32(p + "attn_output.weight", dims: [qd, hidden], rand(qd * hidden))
        w.addF32(p + "attn_q_norm.weight", dims: [headDim], rand(headDim, 1))
        w.addF32(p + "attn_k_norm.weight", dims: [headDim], rand(headDim, 1))
        w.addF32(p + "post_attention_norm.weight", dims: [hidden], rand(hidden, 1))
        w.addF32(p + "ffn_norm.weight", dims: [hidden], rand(hidden, 1))
        w.addF32(p + "ffn_gate.weight", dims: [hidden, ffn], rand(hidden * ffn))
        w.addF32(p + "ffn_up.weight", dims: [hidden, ffn], rand(hidden * ffn))
        w.addF32(p + "ffn_down.weight", dims: [ffn, hidden], rand(ffn * hidden))
        w.addF32(p + "post_ffw_norm.weight", dims: [hidden], rand(hidden, 1))
        return w
    }

    /// Replaces the value of a metadata key (or adds it).
    mutating func set(_ key: String, _ v: Value) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = v } else { add(key, v) }
    }
    mutating func remove(_ key: String) { metadata.removeAll { $0.0 == key } }
    mutating func removeTensor(_ name: String) { tensors.removeAll { $0.name == name } }
}
