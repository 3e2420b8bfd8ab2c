import Foundation

/// Where the app's data files (themes/, formats/) are looked for: the user's config
/// dir first (their edits win), then the folder beside the executable or up to four
/// folders above it (the repository when run from `.build/release`), then the
/// current directory.
enum DataDirectories {
    static func search(_ folder: String, configDirectory: URL) -> [URL] {
        var dirs = [configDirectory.appendingPathComponent(folder)]
        // /proc/self/exe is the real binary even when it was started through PATH or a symlink.
        let selfExe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? "."
        var exe = URL(fileURLWithPath: selfExe).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            dirs.append(exe.appendingPathComponent(folder))
            exe = exe.deletingLastPathComponent()
        }
        dirs.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(folder))
        return dirs
    }
}
