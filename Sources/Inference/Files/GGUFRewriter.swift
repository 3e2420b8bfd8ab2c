import Foundation

/// Writes a new GGUF file from an existing one: the metadata copied byte for byte (value
/// types included) with some keys replaced or added, every tensor either copied byte for
/// byte or replaced by new bytes of a type the caller names. The file is written to a
/// temporary file beside the destination, synced and renamed over it, so a reader never
/// sees half a file and an error or cancellation leaves nothing behind.
public enum GGUFRewriter {
    /// A metadata value this writer adds (the few types `sparkchat.*` keys need).
    public enum Value: Sendable, Equatable {
        case string(String)
        case uint32(UInt32)
        case uint64(UInt64)
        case float32(Float)
    }

    /// What becomes of one tensor: kept as it is, or stored as `type` with bytes
    /// produced when its turn comes (so only one tensor's new bytes are in memory).
    public enum TensorPlan {
        case copy
        case replace(type: GGMLType, produce: () throws -> [UInt8])
    }

    public struct Cancelled: Error, CustomStringConvertible {
        public var description: String { "interrupted; nothing was written" }
    }

    public static func temporaryPath(for path: String) -> String { path + ".tmp-\(getpid())" }

    /// Writes `source` with `metadata` set (existing keys of those names, and those
    /// `dropping` names, are left out; the new values appended) and each tensor as
    /// `plan` says, to `path`.
    /// `progress` is called after each tensor with its name.
    public static func write(
        source: GGUFFile, to path: String, metadata: [(String, Value)],
        dropping: (String) -> Bool = { _ in false },
        plan: (GGUFTensorInfo) throws -> TensorPlan,
        progress: (GGUFTensorInfo) -> Void = { _ in },
        isCancelled: () -> Bool = { false }
    ) throws {
        let replacedKeys = Set(metadata.map(\.0))
        let keptKeys = source.metadataKeys.filter { !replacedKeys.contains($0) && !dropping($0) }
        let infos = source.tensorNames.compactMap { source.tensors[$0] }
        let plans = try infos.map { try plan($0) }
        let align = source.alignment

        // Header: counts, metadata, tensor infos with offsets laid out for the new types.
        var header: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); header += Array(s.utf8) }
        put(UInt32(0x4655_4747))
        put(UInt32(3))
        put(UInt64(infos.count))
        put(UInt64(keptKeys.count + metadata.count))
        for key in keptKeys {
            guard let range = source.metadataByteRanges[key] else { throw EngineError.format("metadata \(key) has no recorded bytes") }
            header += UnsafeRawBufferPointer(rebasing: source.file.bytes[range])
        }
        for (key, value) in metadata {
            putString(key)
            switch value {
            case .string(let s): put(UInt32(8)); putString(s)
            case .uint32(let v): put(UInt32(4)); put(v)
            case .uint64(let v): put(UInt32(10)); put(v)
            case .float32(let v): put(UInt32(6)); put(v.bitPattern)
            }
        }
        var sizes: [Int] = []
        var cursor = 0
        for (info, p) in zip(infos, plans) {
            let type: GGMLType
            if case .replace(let t, _) = p { type = t } else { type = info.type }
            guard let bytes = type.rowBytes(info.rowLength).map({ $0 * info.rowCount }) else {
                throw EngineError.format("tensor \(info.name): row length \(info.rowLength) does not fit \(type.name) blocks")
            }
            putString(info.name)
            put(UInt32(info.dims.count))
            for d in info.dims { put(UInt64(d)) }
            put(type.rawValue)
            put(UInt64(cursor))
            sizes.append(bytes)
            cursor = (cursor + bytes + align - 1) / align * align
        }
        while header.count % align != 0 { header.append(0) }

        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.file("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var renamed = false
        defer {
            close(fd)
            if !renamed { unlink(temporary) }
        }
        func write(_ p: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < p.count {
                let n = Foundation.write(fd, p.baseAddress! + done, p.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw EngineError.file("cannot write \(temporary): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        try header.withUnsafeBytes { try write($0) }
        let padding = [UInt8](repeating: 0, count: align)
        for (i, (info, p)) in zip(infos, plans).enumerated() {
            if isCancelled() { throw Cancelled() }
            switch p {
            case .copy:
                try write(UnsafeRawBufferPointer(start: source.pointer(info), count: info.byteCount))
            case .replace(_, let produce):
                let bytes = try produce()
                guard bytes.count == sizes[i] else {
                    throw EngineError.format("new data of \(info.name) has \(bytes.count) bytes, expected \(sizes[i])")
                }
                try bytes.withUnsafeBytes { try write($0) }
            }
            let pad = (align - sizes[i] % align) % align
            if pad > 0 && i + 1 < infos.count { try padding.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<pad])) } }
            progress(info)
        }
        guard fsync(fd) == 0 else { throw EngineError.file("cannot sync \(temporary): \(String(cString: strerror(errno)))") }
        if isCancelled() { throw Cancelled() }
        guard rename(temporary, path) == 0 else {
            throw EngineError.file("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
        renamed = true
        // The rename itself is durable only once the directory is synced.
        let dirFD = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }
}
