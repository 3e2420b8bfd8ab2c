import Foundation

/// A scratch directory holding the tiny Gemma 3 fixture (a symbolic link named
/// `tiny-gemma3`), for tests that write files beside a model: sparkify overlays, cushions.
enum TinyGemmaScratch {
    /// The repository's sparkify calibration text (KJV passages).
    static var calibration: String { HeadlessCommandTests.repoRoot.appendingPathComponent("calibration/kjv-sparkify.txt").path }

    /// Links the fixture as `tiny-gemma3` inside `directory` and returns the link's path.
    @discardableResult
    static func link(into directory: URL) throws -> String {
        let link = directory.appendingPathComponent("tiny-gemma3")
        try FileManager.default.createSymbolicLink(
            at: link, withDestinationURL: HeadlessCommandTests.repoRoot.appendingPathComponent("Tests/Fixtures/family/gemma3"))
        return link.path
    }

    /// A new directory under the temporary directory, named `prefix-XXXXXXXX`, with the fixture linked in it.
    static func make(_ prefix: String) throws -> URL {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try link(into: scratch)
        return scratch
    }
}
