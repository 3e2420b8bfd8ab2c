import Foundation

/// Writes float32 tensors as a safetensors file (8-byte header length, JSON header
/// padded to 8 bytes, data), atomically: a temporary file that is synced and renamed
/// over the destination, so a reader never sees half a file and an interrupted write
/// leaves nothing behind.
enum SafetensorsWriter {
    static func writeAtomically(
        _ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String],
        to path: String, temporary: String, isCancelled: () -> Bool = { false }
    ) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            precondition(t.shape.reduce(1, *) == t.values.count, "shape of \(t.name)")
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
            offset += 4 * t.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw EngineError.file("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var renamed = false
        defer {
            close(fd)
            if !renamed { unlink(temporary) }
        }
        func put(_ p: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < p.count {
                let n = Foundation.write(fd, p.baseAddress! + done, p.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw EngineError.file("cannot write \(temporary): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        try withUnsafeBytes(of: UInt64(json.count).littleEndian) { try put($0) }
        try json.withUnsafeBytes { try put($0) }
        for t in tensors {
            if isCancelled() { throw SparkifyFitter.Cancelled() }
            try t.values.withUnsafeBytes { try put($0) }
        }
        guard fsync(fd) == 0 else { throw EngineError.file("cannot sync \(temporary): \(String(cString: strerror(errno)))") }
        if isCancelled() { throw SparkifyFitter.Cancelled() }
        guard rename(temporary, path) == 0 else {
            throw EngineError.file("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
        renamed = true
    }
}
