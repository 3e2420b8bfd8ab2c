import Foundation
import XCTest

@testable import Inference

/// The real checkpoint (Gemma 3 270M Q4_K_M) that scripts/setup fetches. Tests that
/// need it skip when it is absent, so the suite still runs on a bare checkout.
enum RealModel {
    static var path: String {
        ModelCatalog.defaultDirectory().appendingPathComponent(ModelCatalog.defaultModelFile).path
    }

    nonisolated(unsafe) private static var cached: LoadedModel?
    static func load() throws -> LoadedModel {
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("real model not present at \(path) (run ./scripts/setup)")
        }
        if let c = cached { return c }
        let m = try LoadedModel.load(path: path)
        cached = m
        return m
    }
}

enum Fixtures {
    /// Tests/Fixtures, found from this source file's location.
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures")
    }
    static func url(_ relative: String) -> URL { directory.appendingPathComponent(relative) }
    static func json(_ relative: String) throws -> Any {
        let u = url(relative)
        guard FileManager.default.fileExists(atPath: u.path) else { throw XCTSkip("fixture \(relative) missing") }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: u))
    }
}
