import Foundation
import XCTest

@testable import Sessions

#if canImport(Glibc)
    import Glibc
#endif

final class SessionStoreTests: XCTestCase {
    func testSaveLoadListDeleteRename() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        XCTAssertTrue(store.list().sessions.isEmpty)

        let a = sampleConversation(id: "20261127-050312-aaaa")
        var b = Conversation(id: "20261127-060000-bbbb", model: "spark-270m")
        b.append(Message(role: .user, text: "newer one", time: a.updated.addingTimeInterval(3600)))
        try store.save(a)
        try store.save(b)
        XCTAssertEqual(try store.load(id: a.id), a)
        XCTAssertEqual(try store.load(id: b.id), b)

        let (sessions, notices) = store.list()
        XCTAssertEqual(notices, [])
        XCTAssertEqual(sessions.map(\.id), [b.id, a.id], "newest first")
        XCTAssertEqual(
            sessions[1],
            SessionSummary(
                id: a.id, title: a.title, created: a.created, updated: a.updated,
                messageCount: 4, model: "gemma-3-270m"))
        XCTAssertEqual(sessions[0].title, "newer one")
        XCTAssertEqual(sessions[0].model, "spark-270m")

        try store.rename(id: a.id, to: "  Arithmetic\nwith emoji 🧮 ")
        XCTAssertEqual(try store.load(id: a.id).title, "Arithmetic with emoji 🧮")
        XCTAssertThrowsError(try store.rename(id: a.id, to: " \n ")) { XCTAssertTrue("\($0)".contains("empty")) }

        try store.delete(id: a.id)
        XCTAssertEqual(store.list().sessions.map(\.id), [b.id])
        XCTAssertThrowsError(try store.delete(id: a.id)) { XCTAssertEqual("\($0)", "no session '\(a.id)' in \(store.directory.path)") }
        XCTAssertThrowsError(try store.load(id: a.id)) { XCTAssertTrue("\($0)".hasPrefix("no session")) }
    }

    func testFilesArePrivateAndNoTemporaryFilesRemain() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir.appendingPathComponent("nested/sessions"))
        for _ in 0..<5 { try store.save(sampleConversation()) }
        let names = try FileManager.default.contentsOfDirectory(atPath: store.directory.path)
        XCTAssertEqual(names, ["20261127-050312-a1b2.json"])
        let attrs = try FileManager.default.attributesOfItem(atPath: store.fileURL(id: "20261127-050312-a1b2").path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    }

    func testHostileIDsAreRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir.appendingPathComponent("s"))
        for id in ["../outside", "a/b", "", ".hidden", "x\u{0}y", "ü", String(repeating: "a", count: 129)] {
            XCTAssertThrowsError(try store.load(id: id)) { XCTAssertTrue("\($0)".hasPrefix("invalid session id"), "\($0)") }
            XCTAssertThrowsError(try store.save(Conversation(id: id)))
            XCTAssertThrowsError(try store.delete(id: id))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["s"], "nothing written outside")
    }

    /// Reading (list, load) never renames or changes a file; a corrupt session is reported
    /// in one line and moved aside only when this store is about to write that id.
    func testCorruptFilesAreReportedLeftInPlaceAndMovedAsideOnlyBeforeAWrite() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        let good = sampleConversation(id: "20261127-050312-good")
        try store.save(good)
        let broken: [String: Data] = [
            "20261127-050312-garbage": Data((0..<500).map { UInt8(truncatingIfNeeded: $0 &* 37) }),
            "20261127-050312-empty": Data(),
            "20261127-050312-notobject": Data("[1, 2, 3]".utf8),
            "20261127-050312-string": Data(#""just text""#.utf8)
        ]
        for (id, data) in broken { try data.write(to: store.fileURL(id: id)) }
        // A file from a newer SparkChat is refused but left exactly where it is.
        let future = Data(#"{"version": 99, "id": "future", "shape": "unknown"}"#.utf8)
        let futureID = "20261127-050312-future"
        try future.write(to: store.fileURL(id: futureID))
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()

        for _ in 0..<2 {
            let (sessions, notices) = store.list()
            XCTAssertEqual(sessions.map(\.id), [good.id])
            XCTAssertEqual(notices.count, broken.count + 1, "\(notices)")
            for n in notices { XCTAssertFalse(n.contains("\n"), n) }
            for id in broken.keys {
                XCTAssertTrue(notices.contains { $0.hasPrefix("session \(id) is corrupt (") && $0.hasSuffix("); left as it is") }, "\(notices)")
                XCTAssertThrowsError(try store.load(id: id)) { XCTAssertTrue(($0 as? SessionError)?.isCorrupt == true, "\($0)") }
            }
            XCTAssertTrue(notices.contains { $0.hasPrefix("session \(futureID) skipped: written by a newer SparkChat (file version 99") })
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), before, "a read renamed something")
        }
        for (id, data) in broken { XCTAssertEqual(try Data(contentsOf: store.fileURL(id: id)), data, "\(id) changed by a read") }

        // Writing one of them moves the damaged file aside first, byte for byte.
        let id = "20261127-050312-garbage"
        var fresh = Conversation(id: id)
        fresh.append(Message(role: .user, text: "a new start"))
        try store.save(fresh)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let aside = try XCTUnwrap(names.first { $0.hasPrefix("\(id).json.corrupt-") }, "\(names)")
        XCTAssertTrue(aside.range(of: #"^.+\.json\.corrupt-\d{8}T\d{6}Z$"#, options: .regularExpression) != nil, aside)
        XCTAssertEqual(store.movedAside, aside)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent(aside)), broken[id])
        XCTAssertEqual(try store.load(id: id), fresh)

        XCTAssertThrowsError(try store.save(Conversation(id: futureID))) { XCTAssertTrue("\($0)".contains("newer SparkChat")) }
        XCTAssertEqual(try Data(contentsOf: store.fileURL(id: futureID)), future, "never overwritten")
        XCTAssertEqual(try store.load(id: good.id), good)
    }

    /// `sessions list --dir` on a project folder: its JSON files are not sessions and are
    /// neither read, reported, nor renamed. Only `YYYYMMDD-HHMMSS-…` names are listed.
    func testListingIgnoresFilesNotNamedLikeSessions() throws {
        let dir = try makeTemporaryDirectory(self)
        let package = Data(#"{"name": "my-app", "version": "1.0.0"}"#.utf8)
        try package.write(to: dir.appendingPathComponent("package.json"))
        try Data("{ broken".utf8).write(to: dir.appendingPathComponent("tsconfig.json"))
        try Data("{".utf8).write(to: dir.appendingPathComponent(".eslintrc.json.tmp-1-a"))
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-600)],
            ofItemAtPath: dir.appendingPathComponent(".eslintrc.json.tmp-1-a").path)
        let store = try SessionStore(directory: dir)
        try store.save(sampleConversation(id: "20261127-050312-a1b2"))
        let (sessions, notices) = store.list()
        XCTAssertEqual(sessions.map(\.id), ["20261127-050312-a1b2"])
        XCTAssertEqual(notices, [])
        XCTAssertEqual(
            Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)),
            ["package.json", "tsconfig.json", ".eslintrc.json.tmp-1-a", "20261127-050312-a1b2.json"])
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("package.json")), package)
        // Named explicitly, it is read (and refused) but still not renamed.
        XCTAssertThrowsError(try store.load(id: "tsconfig")) { XCTAssertTrue("\($0)".hasPrefix("session tsconfig is corrupt"), "\($0)") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("tsconfig.json").path))
        XCTAssertTrue(SessionStore.isSessionID(Conversation.newID()))
        for id in ["package", "2026112-050312-a", "20261127-050312-", "20261127x050312-ab", "../20261127-050312-ab"] {
            XCTAssertFalse(SessionStore.isSessionID(id), id)
        }
    }

    func testLoadingACorruptFileDirectlyLeavesItAndASaveMovesItAside() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        try Data("{\"version\": 1, \"id\":".utf8).write(to: store.fileURL(id: "half"))
        XCTAssertThrowsError(try store.load(id: "half")) {
            XCTAssertTrue("\($0)".hasPrefix("session half is corrupt ("), "\($0)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.fileURL(id: "half").path))
        try store.save(Conversation(id: "half"))
        // A second corrupt file of the same id in the same second gets its own name.
        try Data("junk".utf8).write(to: store.fileURL(id: "half"))
        let other = try SessionStore(directory: dir)  // a store that has not written "half" itself
        try other.save(Conversation(id: "half"))
        let asides = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("half.json.corrupt-") }
        XCTAssertEqual(asides.count, 2, "\(asides)")
    }

    /// Files that are not files: a FIFO would block a plain read forever, a symlink to
    /// /dev/zero would never end, a directory cannot be read. None may hang or crash listing.
    func testSpecialFilesNeverHangOrCrashTheListing() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        try store.save(sampleConversation(id: "20261127-050312-good"))
        XCTAssertEqual(mkfifo(store.fileURL(id: "20261127-050312-fifo").path, 0o600), 0)
        try FileManager.default.createSymbolicLink(atPath: store.fileURL(id: "20261127-050312-zero").path, withDestinationPath: "/dev/zero")
        try FileManager.default.createDirectory(at: store.fileURL(id: "20261127-050312-folder"), withIntermediateDirectories: false)
        let start = Date()
        let (sessions, notices) = store.list()
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssertEqual(sessions.map(\.id), ["20261127-050312-good"])
        XCTAssertEqual(notices.count, 3, "\(notices)")
        for kind in ["fifo", "zero", "folder"] {
            XCTAssertTrue(notices.contains { $0 == "session 20261127-050312-\(kind) is corrupt (not a regular file); left as it is" }, "\(notices)")
        }
    }

    func testAFileCopiedUnderAnotherNameIsItsOwnSession() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        try store.save(sampleConversation(id: "20261127-050312-orig"))
        try FileManager.default.copyItem(at: store.fileURL(id: "20261127-050312-orig"), to: store.fileURL(id: "20261127-050312-copy"))
        XCTAssertEqual(try store.load(id: "20261127-050312-copy").id, "20261127-050312-copy")
        XCTAssertEqual(Set(store.list().sessions.map(\.id)), ["20261127-050312-orig", "20261127-050312-copy"])
    }

    /// A write that fails part-way (here: the file-size limit, the same failure a full disk
    /// gives) reports one line and leaves the previous file byte for byte.
    func testFailedWriteLeavesThePreviousFileIntact() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        var c = sampleConversation()
        try store.save(c)
        let before = try Data(contentsOf: store.fileURL(id: c.id))
        c.append(Message(role: .user, text: String(repeating: "a long message 🧵 ", count: 2000)))

        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        var small = old
        small.rlim_cur = 8192
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small), 0)
        var thrown: Error?
        do { try store.save(c) } catch { thrown = error }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        signal(SIGXFSZ, oldHandler)

        let message = "\(try XCTUnwrap(thrown))"
        XCTAssertTrue(message.hasPrefix("cannot save session \(c.id): cannot write "), message)
        XCTAssertTrue(message.contains("File too large"), message)
        XCTAssertFalse(message.contains("\n"))
        XCTAssertEqual(try Data(contentsOf: store.fileURL(id: c.id)), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["\(c.id).json"], "temp file removed")
        // With room again the same save succeeds.
        try store.save(c)
        XCTAssertEqual(try store.load(id: c.id), c)
    }

    func testStaleTemporaryFilesAreCleanedButFreshOnesKept() throws {
        let dir = try makeTemporaryDirectory(self)
        let store = try SessionStore(directory: dir)
        let stale = dir.appendingPathComponent(".20261127-050312-x.json.tmp-123-abc")
        let fresh = dir.appendingPathComponent(".20261127-050312-y.json.tmp-456-def")
        try Data("{".utf8).write(to: stale)
        try Data("{".utf8).write(to: fresh)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-600)], ofItemAtPath: stale.path)
        XCTAssertEqual(store.list().notices, [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: fresh.path))
    }

    /// The AutoSaver saves a long chat every 0.3 s while a reply streams: a 1 MB session
    /// must save and load in a small fraction of that.
    func testLargeSessionSavesAndLoadsQuickly() throws {
        let store = try SessionStore(directory: try makeTemporaryDirectory(self))
        var c = Conversation(id: "large")
        let paragraph = String(repeating: "Sparse activations skip most FFN rows 🧠. ", count: 60)
        for i in 0..<400 {
            c.append(
                Message(
                    role: i % 2 == 0 ? .user : .assistant, text: paragraph, model: i % 2 == 0 ? nil : "gemma-3-270m",
                    stats: i % 2 == 0 ? nil : MessageStats(generatedTokens: 500, decodeTPS: 40)))
        }
        try store.save(c)
        let bytes = try Data(contentsOf: store.fileURL(id: "large")).count
        XCTAssertGreaterThan(bytes, 1_000_000)
        var start = Date()
        for _ in 0..<10 { try store.save(c) }
        let save = Date().timeIntervalSince(start) / 10
        start = Date()
        for _ in 0..<10 { XCTAssertEqual(try store.load(id: "large").messages.count, 400) }
        let load = Date().timeIntervalSince(start) / 10
        print(String(format: "%.1f MB session: save %.1f ms, load %.1f ms", Double(bytes) / 1e6, save * 1000, load * 1000))
        XCTAssertLessThan(save, 0.25, "must stay under the AutoSaver's 0.3 s interval")
        XCTAssertLessThan(load, 0.25)
    }

    func testDefaultDirectoryFollowsXDG() {
        let saved = ProcessInfo.processInfo.environment["XDG_DATA_HOME"]
        defer { if let saved { setenv("XDG_DATA_HOME", saved, 1) } else { unsetenv("XDG_DATA_HOME") } }
        setenv("XDG_DATA_HOME", "/tmp/xdg-data", 1)
        XCTAssertEqual(SessionStore.defaultDirectory().path, "/tmp/xdg-data/sparkchat/sessions")
        setenv("XDG_DATA_HOME", "relative/ignored", 1)
        XCTAssertTrue(SessionStore.defaultDirectory().path.hasSuffix("/.local/share/sparkchat/sessions"))
        unsetenv("XDG_DATA_HOME")
        XCTAssertTrue(SessionStore.defaultDirectory().path.hasSuffix("/.local/share/sparkchat/sessions"))
    }
}

final class AutoSaverTests: XCTestCase {
    /// Polls until `condition` holds or `seconds` pass; returns whether it held.
    func eventually(within seconds: TimeInterval = 3, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { return false }
            usleep(5_000)
        }
        return true
    }

    func testThrottlesAndSavesTheLatestStateAfterAPause() throws {
        let store = try SessionStore(directory: try makeTemporaryDirectory(self))
        let saver = AutoSaver(store: store, interval: 0.25)
        var c = Conversation(id: "stream")
        c.append(Message(role: .user, text: "count"))
        c.append(Message(role: .assistant, text: "", model: "m"))
        let firstUpdate = Date()  // the first save starts after this, so the next is due ≥ 0.25 s later
        saver.update(c)  // the first save is due at once (in the background)
        XCTAssertTrue(eventually { (try? store.load(id: "stream")) != nil })
        var saved = Set<String>()
        for i in 1...100 {
            c.messages[c.messages.count - 1].text += "\(i) "
            saver.update(c)
            if let text = (try? store.load(id: "stream"))?.messages.last?.text { saved.insert(text) }
        }
        if Date().timeIntervalSince(firstUpdate) < 0.24 {
            XCTAssertEqual(saved, [""], "throttled: no save within the interval")
        }
        // No more updates and no flush: the trailing save still lands about one interval later.
        XCTAssertTrue(eventually { (try? store.load(id: "stream")) == c })
        XCTAssertLessThan(Date().timeIntervalSince(firstUpdate), 1.5)
        XCTAssertNil(saver.lastError)
    }

    func testFlushSavesPendingStateNow() throws {
        let store = try SessionStore(directory: try makeTemporaryDirectory(self))
        let saver = AutoSaver(store: store, interval: 3600)
        var c = Conversation(id: "flush")
        saver.update(c)
        XCTAssertTrue(eventually { (try? store.load(id: "flush")) != nil })
        c.append(Message(role: .user, text: "pending"))
        saver.update(c)
        usleep(50_000)
        XCTAssertEqual(try store.load(id: "flush").messages.count, 0, "next save is an hour away")
        try saver.flush()
        XCTAssertEqual(try store.load(id: "flush"), c)
        try saver.flush()  // nothing pending: no-op
        XCTAssertEqual(try store.load(id: "flush"), c)
    }

    func testDroppingTheSaverWritesPendingState() throws {
        let store = try SessionStore(directory: try makeTemporaryDirectory(self))
        var c = Conversation(id: "dropped")
        weak var weakSaver: AutoSaver?
        do {
            let saver = AutoSaver(store: store, interval: 3600)
            weakSaver = saver
            saver.update(c)
            XCTAssertTrue(eventually { (try? store.load(id: "dropped")) != nil })
            c.append(Message(role: .user, text: "last words"))
            saver.update(c)
        }
        // The last reference may be the background save just finishing, so the drop (and its
        // save) can happen a moment later on that thread.
        XCTAssertTrue(eventually { weakSaver == nil })
        XCTAssertTrue(eventually { (try? store.load(id: "dropped")) == c })
    }

    func testErrorsAreReportedAndRetried() throws {
        let store = try SessionStore(directory: try makeTemporaryDirectory(self))
        let saver = AutoSaver(store: store, interval: 3600)
        let reported = NSLock()
        nonisolated(unsafe) var errors: [String] = []
        saver.onError = { e in reported.withLock { errors.append("\(e)") } }
        saver.update(Conversation(id: "../bad"))
        XCTAssertTrue(eventually { saver.lastError != nil })
        XCTAssertTrue("\(saver.lastError!)".hasPrefix("invalid session id"))
        XCTAssertThrowsError(try saver.flush(), "the failed state stays pending and is retried")
        XCTAssertEqual(reported.withLock { errors.count }, 2)
        saver.update(Conversation(id: "fine"))
        try saver.flush()
        XCTAssertNil(saver.lastError)
        XCTAssertNoThrow(try store.load(id: "fine"))
    }
}
