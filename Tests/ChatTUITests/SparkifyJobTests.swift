import Foundation
import XCTest

@testable import ChatTUI
@testable import Inference

/// The picker's background fit without a terminal: it writes the same overlay as
/// `sparkchat sparkify` (one SparkifyRequest runs both), reports progress up to the end,
/// and a cancel mid-fit leaves neither the overlay nor its temporary file.
final class SparkifyJobTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws { scratch = try TinyGemmaScratch.make("sparkify-job") }

    override func tearDown() { if let s = scratch { try? FileManager.default.removeItem(at: s) } }

    var calibration: String { TinyGemmaScratch.calibration }
    var base: String { scratch.appendingPathComponent("tiny-gemma3").path }

    func wait(_ job: SparkifyJob, timeout: TimeInterval = 120) -> SparkifyJob.Outcome {
        let end = Date().addingTimeInterval(timeout)
        while job.status.outcome == .running && Date() < end { usleep(20_000) }
        return job.status.outcome
    }

    func testJobWritesTheOverlayTheCommandFits() throws {
        let job = SparkifyJob(modelName: "tiny-gemma3", basePath: base, request: SparkifyRequest(fraction: 0.5, calibration: calibration))
        XCTAssertEqual(job.overlayPath, scratch.appendingPathComponent("tiny-gemma3.sparkify-f0.5.safetensors").path)
        job.start()
        XCTAssertEqual(wait(job), .finished(path: job.overlayPath))
        let s = job.status
        XCTAssertGreaterThan(s.total, 12, "calibration chunks and 12 layers")
        XCTAssertEqual(s.done, s.total)

        // The same fit through the command's path (SparkifyRequest.run, as `sparkchat sparkify`).
        let other = scratch.appendingPathComponent("cli.sparkify-f0.5.safetensors").path
        var request = SparkifyRequest(fraction: 0.5, calibration: calibration)
        request.output = other
        _ = try request.run(load: { try LoadedModel.load(path: self.base) }, progress: { _ in }, isCancelled: { false })
        let a = try SafetensorsFile(path: job.overlayPath), b = try SafetensorsFile(path: other)
        XCTAssertEqual(Set(a.tensors.keys), Set(b.tensors.keys))
        XCTAssertEqual(a.metadata["rank"], "0", "the default: the exact gate selects")
        XCTAssertEqual(a.metadata["score_weight"], "exact-up", "the default: the token's |u| weights the score")
        for (name, t) in a.tensors {
            let u = try XCTUnwrap(b.tensors[name])
            XCTAssertEqual(t.shape, u.shape, name)
            XCTAssertEqual(memcmp(a.pointer(t), b.pointer(u), t.byteCount), 0, "\(name) differs")
        }
        // And the catalog lists it with its sparsity.
        let listed = ModelCatalog.scan(directory: scratch).first { $0.name == "tiny-gemma3.sparkify-f0.5" }
        XCTAssertEqual(listed?.sparsity, "sparkify 50% FFN")
    }

    func testCancelMidFitLeavesNoFile() throws {
        // Many overlapping chunks of the calibration text: a fit long enough to stop halfway.
        let job = SparkifyJob(
            modelName: "tiny-gemma3", basePath: base,
            request: SparkifyRequest(fraction: 0.25, calibration: try longCalibration(), tokens: 120_000))
        job.start()
        let end = Date().addingTimeInterval(60)
        while job.status.done < 3 && job.status.outcome == .running && Date() < end { usleep(10_000) }
        XCTAssertEqual(job.status.outcome, .running, "the fit was still going when cancelled")
        job.cancel()
        XCTAssertEqual(wait(job), .cancelled)
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.path)
        XCTAssertEqual(left.filter { $0.contains(".sparkify") }, [], "no overlay and no temporary file")
    }

    func longCalibration() throws -> String {
        let kjv = try String(contentsOfFile: calibration, encoding: .utf8).replacingOccurrences(of: "\u{0C}", with: "\n")
        let path = scratch.appendingPathComponent("long.txt").path
        try String(repeating: kjv, count: 8).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
