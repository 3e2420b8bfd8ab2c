import Foundation

/// The element types a safetensors header may name. Only F32, F16 and BF16 can be
/// used as weights; the others are recognised so that the error says "unsupported".
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }

    /// The GGML type with the same element layout, for weights.
    public var ggmlType: GGMLType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        default: return nil
        }
    }
}

/// One tensor of a safetensors file: where its bytes lie, checked to be inside the file.
public struct SafetensorsTensorInfo: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    /// PyTorch order: shape.last is the contiguous row length.
    public let shape: [Int]
    /// Absolute byte offset in the file.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed `.safetensors` file over a memory map: 8-byte little-endian header length,
/// a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`,
/// then the data. The file is hostile until checked: header length, JSON shape, dtypes,
/// shapes (product overflow), offsets inside the data, size = product(shape) × dtype
/// size, no two tensors overlapping, and element alignment.
public final class SafetensorsFile: @unchecked Sendable {
    public let file: MappedFile
    public let tensors: [String: SafetensorsTensorInfo]
    public let tensorNames: [String]
    public let metadata: [String: String]
    /// Headers above this size are refused (real ones are a few hundred KB).
    static let maxHeaderBytes = 100 << 20

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let name = URL(fileURLWithPath: file.path).lastPathComponent
        func bad(_ s: String) -> EngineError { .format("\(name): \(s)") }
        guard file.count >= 8 else { throw bad("header length truncated (file has \(file.count) bytes)") }
        let n = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard n >= 2, n <= UInt64(SafetensorsFile.maxHeaderBytes) else { throw bad("header length \(n) is out of range") }
        guard n <= UInt64(file.count - 8) else { throw bad("header length \(n) exceeds file size \(file.count)") }
        let headerBytes = Int(n)
        let dataStart = 8 + headerBytes
        let dataSize = file.count - dataStart
        let header = Data(bytes: file.base + 8, count: headerBytes)
        guard let root = (try? JSONSerialization.jsonObject(with: header)) as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        var infos: [String: SafetensorsTensorInfo] = [:]
        var meta: [String: String] = [:]
        for (key, value) in root {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw bad("__metadata__.\(GGUFFile.label(k)) is not a string") }
                    meta[k] = s
                }
                continue
            }
            // Names come from the file: messages quote them escaped and shortened (one line).
            let label = GGUFFile.label(key)
            guard let entry = value as? [String: Any] else { throw bad("tensor \(label) is not an object") }
            guard let ds = entry["dtype"] as? String else { throw bad("tensor \(label) has no dtype") }
            guard let dtype = SafetensorsDType(rawValue: ds) else { throw bad("tensor \(label) has unknown dtype \(GGUFFile.label(ds))") }
            guard let shapeAny = entry["shape"] as? [Any], shapeAny.count <= 8 else {
                throw bad("tensor \(label) has no shape or more than 8 dims")
            }
            var shape: [Int] = []
            var elements = 1
            for d in shapeAny {
                guard let v = SafetensorsFile.integer(d), v >= 0 else { throw bad("tensor \(label) has invalid dimension \(GGUFFile.label("\(d)"))") }
                let (p, o) = elements.multipliedReportingOverflow(by: v)
                guard !o else { throw bad("tensor \(label) shape \(shapeAny) overflows") }
                shape.append(v); elements = p
            }
            let (bytes, o) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !o else { throw bad("tensor \(label) byte size overflows") }
            guard let offs = entry["data_offsets"] as? [Any], offs.count == 2,
                let begin = SafetensorsFile.integer(offs[0]), let end = SafetensorsFile.integer(offs[1])
            else {
                throw bad("tensor \(label) has invalid data_offsets")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("tensor \(label) data_offsets [\(begin), \(end)] lie outside the data (\(dataSize) bytes)")
            }
            guard end - begin == bytes else {
                throw bad("tensor \(label) has \(end - begin) bytes, expected \(bytes) for \(dtype.rawValue) \(shape)")
            }
            guard (dataStart + begin) % dtype.size == 0 else { throw bad("tensor \(label) data is not aligned to \(dtype.size) bytes") }
            infos[key] = SafetensorsTensorInfo(name: key, dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: bytes)
        }
        // No two tensors may share bytes (a hostile file could alias one tensor onto another).
        let sorted = infos.values.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw bad("tensors \(GGUFFile.label(a.name)) and \(GGUFFile.label(b.name)) overlap")
        }
        tensors = infos
        tensorNames = infos.keys.sorted()
        metadata = meta
    }

    public func pointer(_ t: SafetensorsTensorInfo) -> UnsafeRawPointer { file.base + t.offset }

    /// JSON numbers arrive as NSNumber; `as? Int` accepts only exact integers.
    static func integer(_ v: Any) -> Int? { v as? Int }
}

/// A Hugging Face checkpoint directory: `config.json` plus `model.safetensors` or the
/// shards named by `model.safetensors.index.json`. Tensors stay memory-mapped; matrices
/// point into the map in their stored F32/F16/BF16 form.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: URL
    /// config.json as parsed JSON (Gemma 3 multimodal configs nest the text model under `text_config`).
    public let config: [String: Any]
    public let files: [SafetensorsFile]
    private let location: [String: (file: Int, info: SafetensorsTensorInfo)]
    public var tensorNames: [String] { location.keys.sorted() }

    public init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        let configURL = directory.appendingPathComponent("config.json")
        guard fm.fileExists(atPath: configURL.path) else { throw EngineError.file("\(directory.path) has no config.json") }
        config = try SafetensorsCheckpoint.readJSONObject(configURL, what: "config.json")

        var files: [SafetensorsFile] = []
        var location: [String: (file: Int, info: SafetensorsTensorInfo)] = [:]
        let indexURL = directory.appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: indexURL.path) {
            let index = try SafetensorsCheckpoint.readJSONObject(indexURL, what: "model.safetensors.index.json")
            guard let map = index["weight_map"] as? [String: Any], !map.isEmpty else {
                throw EngineError.format("model.safetensors.index.json has no weight_map")
            }
            var shardIndex: [String: Int] = [:]
            for shard in Set(map.values.compactMap { $0 as? String }).sorted() {
                // Shard names are plain file names inside the checkpoint directory.
                guard !shard.contains("/"), !shard.hasPrefix("."), shard.hasSuffix(".safetensors") else {
                    throw EngineError.format("model.safetensors.index.json names an invalid shard \(GGUFFile.label(shard))")
                }
                let p = directory.appendingPathComponent(shard).path
                guard fm.fileExists(atPath: p) else { throw EngineError.file("missing shard \(GGUFFile.label(shard)) in \(directory.path)") }
                shardIndex[shard] = files.count
                files.append(try SafetensorsFile(path: p))
            }
            for (name, v) in map {
                guard let shard = v as? String, let fi = shardIndex[shard] else {
                    throw EngineError.format("model.safetensors.index.json: weight_map[\(GGUFFile.label(name))] is not a shard name")
                }
                guard let info = files[fi].tensors[name] else {
                    throw EngineError.format("tensor \(GGUFFile.label(name)) is not in shard \(GGUFFile.label(shard)) as the index says")
                }
                location[name] = (fi, info)
            }
        } else {
            let p = directory.appendingPathComponent("model.safetensors").path
            guard fm.fileExists(atPath: p) else {
                throw EngineError.file("\(directory.path) has neither model.safetensors nor model.safetensors.index.json")
            }
            let f = try SafetensorsFile(path: p)
            files = [f]
            for (name, info) in f.tensors { location[name] = (0, info) }
        }
        self.files = files
        self.location = location
    }

    static func readJSONObject(_ url: URL, what: String) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw EngineError.file("cannot read \(url.path)") }
        guard data.count < 64 << 20, let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw EngineError.format("\(what) is not a JSON object")
        }
        return obj
    }

    public func has(_ name: String) -> Bool { location[name] != nil }

    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let l = location[name] else { throw EngineError.format("missing tensor \(name)") }
        return l.info
    }

    public func shape(_ name: String) throws -> [Int] { try info(name).shape }

    /// A 2-D tensor [rows, cols] (PyTorch's [out, in]) as a mapped weight matrix.
    public func matrix(_ name: String) throws -> WeightMatrix {
        guard let l = location[name] else { throw EngineError.format("missing tensor \(name)") }
        guard l.info.shape.count == 2 else { throw EngineError.format("tensor \(name) has shape \(l.info.shape), expected 2 dims") }
        guard let t = l.info.dtype.ggmlType else {
            throw EngineError.unsupported("dtype \(l.info.dtype.rawValue) of tensor \(name) (F32, F16 and BF16 are supported)")
        }
        return WeightMatrix(type: t, rows: l.info.shape[0], cols: l.info.shape[1], data: files[l.file].pointer(l.info))
    }

    /// `matrix(name)`, checked to be rows × cols.
    public func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        let s = try shape(name)
        guard s == [rows, cols] else { throw EngineError.format("tensor \(name) has shape \(s), expected [\(rows), \(cols)] from config.json") }
        return try matrix(name)
    }

    /// Any tensor, flattened, converted to float32 (norms, biases, small parameters).
    public func vector(_ name: String) throws -> [Float] {
        guard let l = location[name] else { throw EngineError.format("missing tensor \(name)") }
        guard let t = l.info.dtype.ggmlType else {
            throw EngineError.unsupported("dtype \(l.info.dtype.rawValue) of tensor \(name) (F32, F16 and BF16 are supported)")
        }
        let n = l.info.elementCount
        var out = [Float](repeating: 0, count: n)
        guard n > 0 else { return out }
        let m = WeightMatrix(type: t, rows: 1, cols: n, data: files[l.file].pointer(l.info))
        out.withUnsafeMutableBufferPointer { m.row(0, into: $0.baseAddress!) }
        return out
    }

    /// `vector(name)`, checked to have `count` elements.
    public func vector(_ name: String, count: Int) throws -> [Float] {
        let i = try info(name)
        guard i.elementCount == count else {
            throw EngineError.format("tensor \(name) has shape \(i.shape), expected \(count) elements from config.json")
        }
        return try vector(name)
    }
}
