import Foundation
import XCTest

@testable import Sessions

/// `kill -9` at random moments while a process saves in a tight loop, then every file must
/// load: the atomic write leaves the old or the new file, never a broken one.
///
/// The saving child is this test binary re-run on `testSaveLoopReloadsEveryState` with
/// `SPARKCHAT_SAVE_LOOP_DIR` set: in that mode the loop never ends and the parent kills it.
/// Without the variable the same loop runs a bounded number of rounds as a test of its own.
final class CrashSafetyTests: XCTestCase {
    static let loopDirVariable = "SPARKCHAT_SAVE_LOOP_DIR"
    static let ids = ["20261127-050312-crash-a", "20261127-050312-crash-b", "20261127-050312-crash-c"]

    func testKill9DuringSavesNeverLeavesABrokenFile() throws {
        #if !os(Linux)
            throw XCTSkip("re-runs the test binary through /proc/self/exe (Linux)")
        #endif
        let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        var lastCounts = [String: Int]()
        var killedWhileSaving = 0
        var tempsSeen = Set<String>()
        let log = dir.appendingPathComponent("child.log")  // not a .json: ignored by the store
        for round in 0..<6 {
            let before = CrashSafetyTests.ids.map { (try? store.load(id: $0))?.messages.count ?? 0 }.reduce(0, +)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let child = Process()
            child.executableURL = URL(fileURLWithPath: testBinary)
            child.arguments = ["SessionsTests.CrashSafetyTests/testSaveLoopReloadsEveryState"]
            child.environment = ProcessInfo.processInfo.environment.merging([CrashSafetyTests.loopDirVariable: dir.path]) { $1 }
            child.standardOutput = try FileHandle(forWritingTo: log)
            child.standardError = child.standardOutput
            try child.run()

            // Wait until the child is saving (every conversation exists and has grown since
            // it started), then let it run a random while longer so the kill lands anywhere.
            let deadline = Date().addingTimeInterval(20)
            while child.isRunning, Date() < deadline {
                let counts = CrashSafetyTests.ids.map { (try? store.load(id: $0))?.messages.count }
                if !counts.contains(nil), counts.map({ $0! }).reduce(0, +) > before + 2 { break }
                usleep(2_000)
            }
            usleep(UInt32.random(in: 1_000...120_000))
            XCTAssertTrue(child.isRunning, "child stopped by itself: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            XCTAssertEqual(child.terminationReason, .uncaughtSignal)
            XCTAssertEqual(child.terminationStatus, SIGKILL)
            let temps = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") })
            if !temps.subtracting(tempsSeen).isEmpty { killedWhileSaving += 1 }  // a write was cut off: its temp file stays
            tempsSeen.formUnion(temps)

            // Every file loads, nothing was moved aside, and no durable message was lost.
            let (sessions, notices) = store.list()
            XCTAssertEqual(notices, [], "round \(round)")
            for id in CrashSafetyTests.ids {
                let c = try store.load(id: id)
                try CrashSafetyTests.checkConsistent(c)
                XCTAssertGreaterThanOrEqual(c.messages.count, lastCounts[id] ?? 0, "\(id) lost saved messages")
                lastCounts[id] = c.messages.count
            }
            XCTAssertEqual(Set(sessions.map(\.id)), Set(CrashSafetyTests.ids))
            XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.contains(".corrupt-") })
        }
        XCTAssertGreaterThan(lastCounts.values.reduce(0, +), 20, "the child saved a real amount of work")
        print("kill -9 rounds: 6, kills during a write: \(killedWhileSaving), messages saved: \(lastCounts)")
    }

    /// The save loop. As a child (variable set) it runs until killed; otherwise it runs 30
    /// turns and checks that every saved state reads back equal.
    func testSaveLoopReloadsEveryState() throws {
        let childDir = ProcessInfo.processInfo.environment[CrashSafetyTests.loopDirVariable]
        let store = try SessionStore(directory: childDir.map { URL(fileURLWithPath: $0) } ?? makeTemporaryDirectory(self))
        // A child continues the conversations a killed predecessor left: loading after a kill is part of the test.
        var conversations = try CrashSafetyTests.ids.map { id in
            FileManager.default.fileExists(atPath: store.fileURL(id: id).path) ? try store.load(id: id) : Conversation(id: id)
        }
        let saver = AutoSaver(store: store, interval: 0.003)
        let pieces = ["Sure", ", ", "here", " is ", "😀 ", "ünïcödé", ":\n```swift\n", "let x = \"<&>\"\n", "```\n", "Done."]
        var turn = 0
        while childDir != nil || turn < 30 {
            let k = turn % conversations.count
            var c = conversations[k]
            if c.messages.count >= 300 { c.messages.removeAll(); c.title = "restarted" }  // bound the file size
            // A question whose reply a kill prevented is answered now, as the app would.
            if c.messages.count % 2 == 0 {
                c.append(Message(role: .user, text: "question \(c.messages.count / 2) 🤔"))
                try store.save(c)
            }
            let reply = c.messages.count
            c.append(Message(role: .assistant, text: "", model: "gemma-3-270m"))
            for piece in pieces {
                c.messages[reply].text += piece
                saver.update(c)
            }
            c.messages[reply].stats = MessageStats(promptTokens: reply, generatedTokens: pieces.count, decodeTPS: 42)
            saver.update(c)
            try saver.flush()
            conversations[k] = c
            if childDir == nil {
                XCTAssertEqual(try store.load(id: c.id), c)
                try CrashSafetyTests.checkConsistent(store.load(id: c.id))
            }
            turn += 1
        }
    }

    /// The shape the save loop writes: questions numbered in order, each reply a prefix of
    /// the full streamed text (a kill mid-stream leaves a shorter reply, never a garbled one).
    static func checkConsistent(_ c: Conversation) throws {
        let full = "Sure, here is 😀 ünïcödé:\n```swift\nlet x = \"<&>\"\n```\nDone."
        for (i, m) in c.messages.enumerated() {
            if i % 2 == 0 {
                XCTAssertEqual(m.role, .user)
                XCTAssertEqual(m.text, "question \(i / 2) 🤔")
            } else {
                XCTAssertEqual(m.role, .assistant)
                XCTAssertTrue(full.hasPrefix(m.text), "garbled reply \(m.text.debugDescription)")
            }
        }
    }
}
