import Foundation
import XCTest

@testable import Inference

/// Two threads running the engine at once (the chat's reply and a sparkify fit from the
/// picker) share the one compute pool: each run must get exactly its own tasks.
final class ComputePoolConcurrencyTests: XCTestCase {
    func testTwoCallersEachGetTheirOwnTasks() throws {
        guard ComputePool.shared.threads > 1 else { throw XCTSkip("one compute thread: the pool runs inline") }
        let rounds = 20000, n = 64
        // Each caller thread writes only its own slot, and the test reads both after the
        // group is done: the unchecked sharing is safe.
        nonisolated(unsafe) let failures = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        failures.initialize(repeating: 0, count: 2)
        defer { failures.deallocate() }
        let group = DispatchGroup(), go = DispatchSemaphore(value: 0)
        for caller in 0..<2 {
            group.enter()
            Thread {
                go.wait()  // both start together, so their runs overlap
                let out = UnsafeMutablePointer<Int>.allocate(capacity: n)
                defer { out.deallocate(); group.leave() }
                for round in 0..<rounds {
                    out.initialize(repeating: -1, count: n)
                    let tag = caller * 1_000_000 + round
                    parallelFor(n) { i in out[i] = tag + i }
                    for i in 0..<n where out[i] != tag + i { failures[caller] += 1 }
                }
            }.start()
        }
        go.signal(); go.signal()
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success, "a caller hung")
        XCTAssertEqual(failures[0] + failures[1], 0, "tasks lost or run for the other caller")
    }
}
