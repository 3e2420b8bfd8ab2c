// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for the project's file parsers: a package of its own beside the
// main one, so the fuzzer's instrumentation and entry point never reach the app or the
// test builds. Build and run with scripts/fuzz (Fuzz/README.md says how it works).
//
// Each name below is one executable, Sources/fuzz-<name>/main.swift, whose only job is
// `FuzzDriver.run { bytes in ... }`; its seed corpus is corpus/<name>/. Adding a target
// is a folder with that file, its name here, and a few seed files.
let fuzzTargets = [
    "gguf", "gguf-load", "safetensors", "safetensors-index",
    "tokenizer-model", "tokenizer-json", "session", "config", "theme"
]

let package = Package(
    name: "SparkChatFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "SparkChat", path: "..")],
    targets: [
        .target(
            name: "FuzzSupport", dependencies: [.product(name: "Inference", package: "SparkChat")],
            path: "Sources/FuzzSupport"),
        // config.json and theme parsing live in the sparkchat executable, which cannot be
        // linked into another program: these are symlinks to just the files they need.
        .target(
            name: "ChatTUIFiles",
            dependencies: [
                .product(name: "Inference", package: "SparkChat"),
                .product(name: "Sessions", package: "SparkChat"),
                .product(name: "Remote", package: "SparkChat")
            ],
            path: "Sources/ChatTUIFiles")
    ]
        + fuzzTargets.map { name in
            .executableTarget(
                name: "fuzz-\(name)",
                dependencies: [
                    "FuzzSupport", "ChatTUIFiles",
                    .product(name: "Inference", package: "SparkChat"),
                    .product(name: "Sessions", package: "SparkChat")
                ],
                path: "Sources/fuzz-\(name)",
                // gold fails to link SwiftPM's renamed `main` next to libFuzzer (an internal
                // error in gold); lld links it.
                linkerSettings: [.unsafeFlags(["-use-ld=lld"])])
        },
    swiftLanguageModes: [.v5]
)
