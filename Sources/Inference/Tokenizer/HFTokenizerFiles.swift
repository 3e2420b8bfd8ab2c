import Foundation

/// Builds the same SentencePiece BPE encoder the GGUF path uses from the tokenizer
/// files of a Hugging Face checkpoint: `tokenizer.model` (SentencePiece protobuf:
/// pieces, scores and types as trained) or `tokenizer.json` (the fast tokenizer's BPE
/// vocabulary and merges; merge rank becomes the score).
extension SentencePieceTokenizer {
    /// Prefers tokenizer.model (exact scores), else tokenizer.json.
    static func fromCheckpointDirectory(_ dir: URL) throws -> SentencePieceTokenizer {
        let fm = FileManager.default
        let spm = dir.appendingPathComponent("tokenizer.model")
        let json = dir.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: spm.path) {
            let data: Data
            do { data = try Data(contentsOf: spm) } catch { throw EngineError.file("cannot read \(spm.path)") }
            return try fromSentencePieceModel(data)
        }
        if fm.fileExists(atPath: json.path) {
            let data: Data
            do { data = try Data(contentsOf: json) } catch { throw EngineError.file("cannot read \(json.path)") }
            return try fromTokenizerJSON(data)
        }
        throw EngineError.file("\(dir.path) has neither tokenizer.model nor tokenizer.json")
    }

    // MARK: tokenizer.model

    /// Parses SentencePiece's ModelProto: field 1 = repeated SentencePiece {1: piece,
    /// 2: score (float), 3: type}, field 2 = TrainerSpec {3: model_type, 40-42: unk/bos/eos
    /// ids}, field 3 = NormalizerSpec {3: add_dummy_prefix}.
    static func fromSentencePieceModel(_ data: Data) throws -> SentencePieceTokenizer {
        try data.withUnsafeBytes { try fromSentencePieceModel(bytes: $0) }
    }

    static func fromSentencePieceModel(bytes: UnsafeRawBufferPointer) throws -> SentencePieceTokenizer {
        var pieces: [String] = [], scores: [Float] = [], types: [TokenType] = []
        var modelType = 1  // UNIGRAM is the protobuf default
        var addDummyPrefix = true
        var ids: [Int: Int] = [:]  // trainer_spec field number → value
        var r = ProtoReader(bytes, "tokenizer.model")
        while !r.atEnd {
            let (field, wire) = try r.key()
            switch (field, wire) {
            case (1, 2):
                var p = ProtoReader(try r.bytes(), "tokenizer.model piece \(pieces.count)")
                var piece = "", score: Float = 0, type = TokenType.normal
                while !p.atEnd {
                    let (f, w) = try p.key()
                    switch (f, w) {
                    case (1, 2): piece = String(decoding: try p.bytes(), as: UTF8.self)
                    case (2, 5): score = Float(bitPattern: try p.fixed32())
                    case (3, 0):
                        let v = try p.varint()
                        guard let t = TokenType(rawValue: Int32(truncatingIfNeeded: v)), v <= 6 else {
                            throw EngineError.format("tokenizer.model: piece \(pieces.count) has invalid type \(v)")
                        }
                        type = t
                    default: try p.skip(w)
                    }
                }
                pieces.append(piece); scores.append(score); types.append(type)
            case (2, 2):
                var t = ProtoReader(try r.bytes(), "tokenizer.model trainer_spec")
                while !t.atEnd {
                    let (f, w) = try t.key()
                    if w == 0 && (f == 3 || (40...43).contains(f)) {
                        ids[f] = Int(Int32(truncatingIfNeeded: try t.varint()))
                    } else {
                        try t.skip(w)
                    }
                }
            case (3, 2):
                var n = ProtoReader(try r.bytes(), "tokenizer.model normalizer_spec")
                while !n.atEnd {
                    let (f, w) = try n.key()
                    if f == 3 && w == 0 { addDummyPrefix = try n.varint() != 0 } else { try n.skip(w) }
                }
            default: try r.skip(wire)
            }
        }
        if let t = ids[3] { modelType = t }
        guard modelType == 2 else {
            throw EngineError.unsupported("SentencePiece model type \(modelType) (only BPE, type 2, as Gemma uses)")
        }
        func id(_ piece: String, _ field: Int, _ fallback: Int) -> Int {
            pieces.firstIndex(of: piece) ?? ids[field] ?? fallback
        }
        return try SentencePieceTokenizer(
            pieces: pieces, scores: scores, types: types,
            bosId: id("<bos>", 41, 1), eosId: id("<eos>", 42, 2),
            unknownId: id("<unk>", 40, 0), addSpacePrefix: addDummyPrefix)
    }

    // MARK: tokenizer.json

    /// Parses tokenizer.json with an order- and byte-preserving JSON reader (see OrderedJSON).
    static func fromTokenizerJSON(_ data: Data) throws -> SentencePieceTokenizer {
        guard data.count < 256 << 20 else { throw EngineError.format("tokenizer.json is too large") }
        let json = try OrderedJSON.parse(data, what: "tokenizer.json")
        guard let model = json["model"], model.pairs != nil else { throw EngineError.format("tokenizer.json: missing model") }
        let type = model["type"]?.string ?? "?"
        guard type == "BPE" else { throw EngineError.unsupported("tokenizer.json model type \(GGUFFile.label(type)) (only BPE, as Gemma uses)") }
        guard let vocab = model["vocab"]?.pairs else { throw EngineError.format("tokenizer.json: model.vocab is not an object") }
        var added: [(id: Int, content: String, special: Bool)] = []
        for a in json["added_tokens"]?.array ?? [] {
            guard let id = a["id"]?.int, let content = a["content"]?.string else {
                throw EngineError.format("tokenizer.json: added_tokens entry without id/content")
            }
            added.append((id, content, a["special"]?.bool ?? false))
        }
        var size = vocab.count
        for a in added where a.id >= 0 { size = max(size, a.id + 1) }
        guard size <= 1 << 22 else { throw EngineError.format("tokenizer.json: vocabulary of \(size) is too large") }
        var pieces = [String?](repeating: nil, count: size)
        for (p, v) in vocab {
            guard let id = v.int, id >= 0, id < size else { throw EngineError.format("tokenizer.json: vocab entry \(p.debugDescription) has no valid id") }
            guard pieces[id] == nil else { throw EngineError.format("tokenizer.json: id \(id) appears twice in the vocabulary") }
            pieces[id] = p
        }
        for a in added where a.id >= 0 && a.id < size { pieces[a.id] = a.content }
        guard !pieces.contains(where: { $0 == nil }) else { throw EngineError.format("tokenizer.json: vocabulary ids are not contiguous") }
        let all = pieces.map { $0! }
        var index: [ByteKey: Int] = [:]
        index.reserveCapacity(size)
        for (id, p) in all.enumerated() where index[ByteKey(Array(p.utf8))] == nil { index[ByteKey(Array(p.utf8))] = id }
        func id(_ s: String) -> Int? { index[ByteKey(Array(s.utf8))] }

        // Merge rank r makes the merged piece's score −r (earlier merges win), the order
        // SentencePiece's scores give; pieces no merge produces rank below every merge.
        let merges = model["merges"]?.array ?? []
        let none = -Float(merges.count + 1)
        var scores = [Float](repeating: none, count: size)
        for (rank, m) in merges.enumerated() {
            var merged: [UInt8]
            if let s = m.string {
                guard let sp = s.utf8.firstIndex(of: 0x20) else { continue }
                merged = Array(s.utf8[..<sp]) + Array(s.utf8[s.utf8.index(after: sp)...])
            } else if let a = m.array, a.count == 2, let l = a[0].string, let r = a[1].string {
                merged = Array(l.utf8) + Array(r.utf8)
            } else {
                throw EngineError.format("tokenizer.json: merge \(rank) is neither \"a b\" nor [a, b]")
            }
            if let pid = index[ByteKey(merged)], scores[pid] == none { scores[pid] = -Float(rank) }
        }
        var types = [TokenType](repeating: .normal, count: size)
        for (i, p) in all.enumerated() where byteValue(p) != nil { types[i] = .byte }
        let unk = model["unk_token"]?.string
        if let u = unk, let i = id(u) { types[i] = .unknown }
        for a in added where a.id >= 0 && a.id < size && types[a.id] != .byte {
            types[a.id] = a.special ? .control : .userDefined
        }
        // A normalizer that prepends "▁" is SentencePiece's add_dummy_prefix.
        let addPrefix = json["normalizer"].map { "\($0)".contains("Prepend") } ?? false
        return try SentencePieceTokenizer(
            pieces: all, scores: scores, types: types,
            bosId: id("<bos>") ?? 2, eosId: id("<eos>") ?? 1,
            unknownId: id(unk ?? "<unk>") ?? 3, addSpacePrefix: addPrefix,
            fuseUnknown: model["fuse_unk"]?.bool ?? false)
    }
}

/// Minimal protobuf wire-format reader; every length is checked against the buffer.
struct ProtoReader {
    let buf: UnsafeRawBufferPointer
    var pos = 0
    let what: String
    init(_ b: UnsafeRawBufferPointer, _ what: String) { buf = b; self.what = what }
    var atEnd: Bool { pos >= buf.count }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard pos < buf.count else { throw EngineError.format("\(what): truncated varint") }
            let b = buf[pos]; pos += 1
            guard shift < 64 else { throw EngineError.format("\(what): varint too long") }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }
    mutating func key() throws -> (Int, Int) {
        let k = try varint()
        return (Int(k >> 3 & 0xFFFF_FFFF), Int(k & 7))
    }
    mutating func bytes() throws -> UnsafeRawBufferPointer {
        let n = try varint()
        guard n <= UInt64(buf.count - pos) else { throw EngineError.format("\(what): length \(n) exceeds the data") }
        defer { pos += Int(n) }
        return UnsafeRawBufferPointer(rebasing: buf[pos..<(pos + Int(n))])
    }
    mutating func fixed32() throws -> UInt32 {
        guard buf.count - pos >= 4 else { throw EngineError.format("\(what): truncated fixed32") }
        defer { pos += 4 }
        return UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos, as: UInt32.self))
    }
    mutating func skip(_ wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: guard buf.count - pos >= 8 else { throw EngineError.format("\(what): truncated fixed64") }; pos += 8
        case 2: _ = try bytes()
        case 5: _ = try fixed32()
        default: throw EngineError.format("\(what): unsupported wire type \(wire)")
        }
    }
}
