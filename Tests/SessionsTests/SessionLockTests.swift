import Foundation
import XCTest

@testable import Sessions

#if canImport(Glibc)
    import Glibc
#endif

/// One writer per session: a second window (another process, or another open of the lock)
/// cannot save over the first one's conversation, and a crashed holder frees the lock.
final class SessionLockTests: XCTestCase {
    let id = "20261127-050312-a1b2"

    func testASecondStoreCannotLockSaveOrDeleteAHeldSession() throws {
        let dir = try makeTemporaryDirectory(self)
        let first = try SessionStore(directory: dir), second = try SessionStore(directory: dir)
        var c = sampleConversation(id: id)
        XCTAssertTrue(try first.lock(id: id))
        XCTAssertTrue(try first.lock(id: id), "locking again in the same store is fine")
        try first.save(c)
        XCTAssertFalse(try second.lock(id: id), "flock is per open file description: a second open is refused")
        XCTAssertTrue(second.isOpenElsewhere(id: id))
        XCTAssertFalse(first.isOpenElsewhere(id: id))
        c.append(Message(role: .user, text: "from the second window"))
        XCTAssertThrowsError(try second.save(c)) { XCTAssertEqual("\($0)", "not saving session \(id): it is open in another window") }
        XCTAssertThrowsError(try second.delete(id: id)) { XCTAssertTrue("\($0)".contains("open in another window"), "\($0)") }
        XCTAssertThrowsError(try second.rename(id: id, to: "x"))
        XCTAssertEqual(try second.load(id: id).messages.count, 4, "reading is always allowed")

        first.unlock(id: id)
        XCTAssertTrue(try second.lock(id: id))
        try second.save(c)
        XCTAssertEqual(try first.load(id: id).messages.count, 5)
    }

    /// A real second process (flock(1)) holds the lock; killing it with SIGKILL frees it.
    func testAnotherProcessHoldsTheLockUntilItDies() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { throw XCTSkip("flock(1) not installed") }
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["-n", store.lockURL(id: id).path, "sleep", "30"]
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let end = Date().addingTimeInterval(5)
        while Date() < end && !store.isOpenElsewhere(id: id) { usleep(20_000) }
        XCTAssertTrue(store.isOpenElsewhere(id: id))
        XCTAssertFalse(try store.lock(id: id))
        XCTAssertThrowsError(try store.save(Conversation(id: id)))

        kill(holder.processIdentifier, SIGKILL)  // a crash: the kernel drops the flock
        holder.waitUntilExit()
        XCTAssertTrue(try store.lock(id: id))
        XCTAssertNoThrow(try store.save(Conversation(id: id)))
    }
}
