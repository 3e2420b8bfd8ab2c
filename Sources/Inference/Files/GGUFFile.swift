import Foundation

/// A metadata value of a GGUF file. Not `indirect`: that would box every element of
/// every array (a 262k-token vocabulary is ~800k values).
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var intValue: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(v)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
}

/// Where one tensor's data lies in the file, checked to be inside it.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// GGML order: dims[0] is the contiguous row length.
    public let dims: [Int]
    public let type: GGMLType
    /// Absolute byte offset in the file.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { dims.reduce(1, *) }
    public var rowLength: Int { dims.first ?? 1 }
    public var rowCount: Int { elementCount / max(rowLength, 1) }
}

/// A parsed GGUF file (versions 2 and 3) over a memory map. The file is treated as
/// hostile: every count, length, type id, dimension and offset is checked before use,
/// and a violation throws `EngineError.format` naming the field.
public final class GGUFFile: @unchecked Sendable {
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order (for `models` listings and debugging).
    public let metadataKeys: [String]
    /// Where each key-value pair lies in the file (key, type and value), so a writer can
    /// copy the metadata byte for byte, value types included.
    public let metadataByteRanges: [String: Range<Int>]
    public let tensors: [String: GGUFTensorInfo]
    public let tensorNames: [String]
    public let alignment: Int
    public let dataOffset: Int

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// The header read in order: magic and version, counts, metadata, tensor infos; then
    /// each tensor placed in the data section. Every count, size and offset is checked
    /// against the file before use, so a hostile file fails with one line.
    public init(file: MappedFile) throws {
        self.file = file
        var r = ByteReader(bytes: file.bytes)
        let magic = try r.u32("magic")
        guard magic == 0x4655_4747 else { throw EngineError.format("bad magic (not a GGUF file)") }
        version = try r.u32("version")
        guard version == 2 || version == 3 else {
            throw EngineError.format("version \(version) not supported (expected 2 or 3)")
        }
        let tensorCount = try r.u64("tensor_count")
        let kvCount = try r.u64("metadata_kv_count")
        // Each KV takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8+4+8+4+8.
        guard kvCount <= UInt64(r.remaining / 13) else { throw EngineError.format("metadata_kv_count \(kvCount) exceeds file size") }
        guard tensorCount <= UInt64(r.remaining / 32) else { throw EngineError.format("tensor_count \(tensorCount) exceeds file size") }
        (metadata, metadataKeys, metadataByteRanges) = try GGUFFile.readMetadata(&r, count: Int(kvCount))
        alignment = try GGUFFile.alignment(metadata)
        var raws: [RawTensorInfo] = []
        var seen = Set<String>()
        for i in 0..<Int(tensorCount) {
            raws.append(try GGUFFile.readTensorInfo(&r, index: i))
            guard seen.insert(raws[i].name).inserted else { throw EngineError.format("duplicate tensor \(GGUFFile.label(raws[i].name))") }
        }
        dataOffset = (r.offset + alignment - 1) / alignment * alignment
        guard dataOffset <= file.count else { throw EngineError.format("tensor data section starts past end of file") }
        tensorNames = raws.map(\.name)
        tensors = try GGUFFile.place(raws, dataOffset: dataOffset, alignment: alignment, fileSize: file.count)
    }

    private static func readMetadata(
        _ r: inout ByteReader, count: Int
    ) throws -> ([String: GGUFValue], [String], [String: Range<Int>]) {
        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        var ranges: [String: Range<Int>] = [:]
        for i in 0..<count {
            let entryStart = r.offset
            let key = try r.string("metadata key #\(i)")
            // Keys and names come from the file: errors quote them escaped and shortened,
            // so a hostile name cannot break the one-line message or make it huge.
            let label = GGUFFile.label(key)
            let type = try r.u32("type of \(label)")
            let value = try r.value(type: type, field: label, depth: 0)
            guard meta[key] == nil else { throw EngineError.format("duplicate metadata key \(label)") }
            meta[key] = value
            keys.append(key)
            ranges[key] = entryStart..<r.offset
        }
        return (meta, keys, ranges)
    }

    private static func alignment(_ meta: [String: GGUFValue]) throws -> Int {
        guard let a = meta["general.alignment"] else { return 32 }
        guard let v = a.intValue, v > 0, v <= 1 << 16, v & (v - 1) == 0 else {
            throw EngineError.format("general.alignment must be a power of two up to 65536")
        }
        return v
    }

    /// A tensor info as stored: its offset is relative to the data section.
    private struct RawTensorInfo { let name: String; let dims: [Int]; let type: GGMLType; let relativeOffset: UInt64 }

    private static func readTensorInfo(_ r: inout ByteReader, index i: Int) throws -> RawTensorInfo {
        let rawName = try r.string("tensor #\(i) name")
        guard rawName.utf8.count <= 256 else { throw EngineError.format("tensor #\(i) name longer than 256 bytes") }
        let name = GGUFFile.label(rawName)
        let nd = try r.u32("n_dims of \(name)")
        guard nd >= 1 && nd <= 4 else { throw EngineError.format("n_dims of \(name) is \(nd) (must be 1...4)") }
        var dims: [Int] = []
        var product: Int = 1
        for d in 0..<Int(nd) {
            let v = try r.u64("dim \(d) of \(name)")
            guard v >= 1, v <= UInt64(Int32.max) else { throw EngineError.format("dim \(d) of \(name) is \(v)") }
            let (p, o) = product.multipliedReportingOverflow(by: Int(v))
            guard !o, p <= 1 << 40 else { throw EngineError.format("element count of \(name) overflows") }
            product = p
            dims.append(Int(v))
        }
        let rawType = try r.u32("type of \(name)")
        guard let type = GGMLType(rawValue: rawType) else {
            throw EngineError.format("tensor \(name) has unknown type id \(rawType)")
        }
        guard dims[0] % type.blockSize == 0 else {
            throw EngineError.format("row length \(dims[0]) of \(name) is not a multiple of the \(type.name) block size \(type.blockSize)")
        }
        let rel = try r.u64("offset of \(name)")
        return RawTensorInfo(name: rawName, dims: dims, type: type, relativeOffset: rel)
    }

    /// Each tensor's absolute place in the file: aligned, inside the file, and not
    /// sharing bytes with another (that would alias weights, and a writer never does it).
    private static func place(
        _ raws: [RawTensorInfo], dataOffset start: Int, alignment align: Int, fileSize: Int
    ) throws -> [String: GGUFTensorInfo] {
        var infos: [String: GGUFTensorInfo] = [:]
        for raw in raws {
            let label = GGUFFile.label(raw.name)
            guard raw.relativeOffset % UInt64(align) == 0 else {
                throw EngineError.format("offset of \(label) is not aligned to \(align)")
            }
            let bytes = (raw.dims.reduce(1, *) / raw.type.blockSize) * raw.type.typeSize
            guard raw.relativeOffset <= UInt64(fileSize - start), bytes <= fileSize - start - Int(raw.relativeOffset) else {
                throw EngineError.format("data of \(label) lies past end of file")
            }
            infos[raw.name] = GGUFTensorInfo(
                name: raw.name, dims: raw.dims, type: raw.type, offset: start + Int(raw.relativeOffset), byteCount: bytes)
        }
        let byOffset = raws.compactMap { infos[$0.name] }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw EngineError.format("data of \(GGUFFile.label(a.name)) overlaps \(GGUFFile.label(b.name))")
        }
        return infos
    }

    public func pointer(_ t: GGUFTensorInfo) -> UnsafeRawPointer { file.base + t.offset }

    /// A file-supplied name fit for a one-line message: control characters escaped,
    /// at most 80 characters.
    static func label(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if out.unicodeScalars.count >= 80 { return out + "…" }
            if u.properties.generalCategory == .control || u == "\u{2028}" || u == "\u{2029}" {
                out += u.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    // MARK: typed metadata access (errors name the key)

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw EngineError.format("missing metadata \(key)") }
        guard let s = v.stringValue else { throw EngineError.format("metadata \(key) is not a string") }
        return s
    }
    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw EngineError.format("missing metadata \(key)") }
        guard let i = v.intValue else { throw EngineError.format("metadata \(key) is not an integer") }
        return i
    }
    public func optionalInt(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.intValue else { throw EngineError.format("metadata \(key) is not an integer") }
        return i
    }
    public func optionalDouble(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.doubleValue else { throw EngineError.format("metadata \(key) is not a number") }
        return d
    }
    public func stringArray(_ key: String) throws -> [String] {
        guard let v = metadata[key] else { throw EngineError.format("missing metadata \(key)") }
        guard let a = v.arrayValue else { throw EngineError.format("metadata \(key) is not an array") }
        return try a.map {
            guard let s = $0.stringValue else { throw EngineError.format("metadata \(key) is not an array of strings") }
            return s
        }
    }
    public func optionalNumberArray(_ key: String) throws -> [Double]? {
        guard let v = metadata[key] else { return nil }
        guard let a = v.arrayValue else { throw EngineError.format("metadata \(key) is not an array") }
        return try a.map {
            guard let d = $0.doubleValue else { throw EngineError.format("metadata \(key) is not an array of numbers") }
            return d
        }
    }
}

/// Little-endian cursor over the mapped bytes; every read is bounds-checked.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    /// Array elements decoded so far. Each becomes a 24-byte value in memory, so a file
    /// of one-byte elements would blow up ~24x: the total is capped well above what
    /// real vocabularies need (~1M elements for tokens + scores + types + merges).
    var arrayElements = 0
    static let maxArrayElements = 1 << 23
    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int, _ field: String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw EngineError.format("\(field) truncated at byte \(offset)") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
    }
    mutating func u8(_ f: String) throws -> UInt8 { try take(1, f)[0] }
    mutating func u16(_ f: String) throws -> UInt16 { UInt16(littleEndian: try take(2, f).loadUnaligned(as: UInt16.self)) }
    mutating func u32(_ f: String) throws -> UInt32 { UInt32(littleEndian: try take(4, f).loadUnaligned(as: UInt32.self)) }
    mutating func u64(_ f: String) throws -> UInt64 { UInt64(littleEndian: try take(8, f).loadUnaligned(as: UInt64.self)) }

    mutating func string(_ field: String) throws -> String {
        let n = try u64("length of \(field)")
        guard n <= UInt64(remaining) else { throw EngineError.format("length \(n) of \(field) exceeds file size") }
        let raw = try take(Int(n), field)
        // Invalid UTF-8 is repaired rather than rejected: vocabularies hold byte pieces.
        return String(decoding: raw, as: UTF8.self)
    }

    /// Smallest encoded size of one element of a type, to bound array counts before allocating.
    static func minSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return nil
        }
    }

    mutating func value(type: UInt32, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try u8(field)))
        case 1: return .int(Int64(Int8(bitPattern: try u8(field))))
        case 2: return .uint(UInt64(try u16(field)))
        case 3: return .int(Int64(Int16(bitPattern: try u16(field))))
        case 4: return .uint(UInt64(try u32(field)))
        case 5: return .int(Int64(Int32(bitPattern: try u32(field))))
        case 6: return .float(Double(Float(bitPattern: try u32(field))))
        case 7:
            let b = try u8(field)
            guard b <= 1 else { throw EngineError.format("\(field) is a bool with value \(b)") }
            return .bool(b == 1)
        case 8: return .string(try string(field))
        case 9:
            guard depth < 2 else { throw EngineError.format("\(field) nests arrays too deeply") }
            let et = try u32("element type of \(field)")
            guard let minSize = ByteReader.minSize(et) else {
                throw EngineError.format("\(field) has unknown array element type \(et)")
            }
            let n = try u64("count of \(field)")
            guard n <= UInt64(remaining / minSize) else { throw EngineError.format("count \(n) of \(field) exceeds file size") }
            arrayElements += Int(n)
            guard arrayElements <= ByteReader.maxArrayElements else {
                throw EngineError.format("\(field) takes the metadata past \(ByteReader.maxArrayElements) array elements")
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { out.append(try value(type: et, field: field, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint(try u64(field))
        case 11: return .int(Int64(bitPattern: try u64(field)))
        case 12: return .float(Double(bitPattern: try u64(field)))
        default: throw EngineError.format("\(field) has unknown value type \(type)")
        }
    }
}
