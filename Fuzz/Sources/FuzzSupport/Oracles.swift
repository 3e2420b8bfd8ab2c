import Foundation

/// What every parser promises about bad input beyond "no crash": the error is one
/// line of reasonable length, so the app can show it in a status line or a notice.
/// A violation stops the fuzzer like a crash does (it is a bug to fix, with the input kept).
public enum Oracle {
    public static func oneLineError(_ error: Error, target: String) {
        let text = "\(error)"
        check(!text.contains("\n") && !text.contains("\r"), "\(target): multi-line error: \(text.debugDescription.prefix(300))")
        check(text.utf8.count <= 1000, "\(target): overlong error (\(text.utf8.count) bytes): \(text.prefix(200))")
    }

    /// Runs `parse`; a thrown error must satisfy `oneLineError`.
    @discardableResult
    public static func parse<T>(_ target: String, _ parse: () throws -> T) -> T? {
        do { return try parse() } catch {
            oneLineError(error, target: target)
            return nil
        }
    }
}

/// A failed property: stops the fuzzer, which keeps the input. Not `precondition`,
/// whose message a release build drops.
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz property violated: " + message()) }
}

/// A private folder on tmpfs for targets whose parser reads files by path; removed at exit.
public enum Scratch {
    public static let directory: URL = {
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let url = URL(fileURLWithPath: base).appendingPathComponent("sparkchat-fuzz-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Scratch.directory) }
        return url
    }()

    /// Writes `bytes` to `name` inside the scratch folder (replacing it) and returns its path.
    @discardableResult
    public static func write(_ bytes: UnsafeRawBufferPointer, to name: String) -> String {
        let url = directory.appendingPathComponent(name)
        try! Data(bytes).write(to: url)
        return url.path
    }
}
