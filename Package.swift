// swift-tools-version:6.0
import PackageDescription

// Hot kernels live in the C target CKernels, compiled for the baseline x86-64 and
// dispatching at run time to AVX2/FMA/F16C (or AVX-512) variants: never pass
// -march=native here, CI and users run on different CPUs.
//
// Linux only: the terminal goes through ncursesw's wide-character API and Linux's
// /proc, OpenBLAS and cmark-gfm come from Debian's -dev packages (scripts/setup), so no
// Apple platform is declared.
let cOptimize: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno"])]

let package = Package(
    name: "SparkChat",
    products: [
        .executable(name: "sparkchat", targets: ["ChatTUI"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "Sessions", targets: ["Sessions"]),
        .library(name: "Remote", targets: ["Remote"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The HTTP server of `sparkchat serve`: SwiftNIO directly, not a framework on top
        // of it, to keep CI's clean build short.
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0")
    ],
    targets: [
        .systemLibrary(name: "CNcursesw", path: "Sources/CNcursesw"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CCmarkGFM", path: "Sources/CCmarkGFM"),
        .target(
            name: "CKernels", path: "Sources/CKernels", cSettings: cOptimize,
            linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]),
        // -O, not -Ounchecked: the hot loops are C kernels, and measured with the bench and
        // perplexity commands -Ounchecked bought nothing, while in the GGUF, safetensors and
        // tokenizer readers a missed check must trap, not corrupt memory. -O also in debug
        // builds, so the model tests stay fast there.
        .target(
            name: "Inference", dependencies: ["CKernels", "COpenBLAS"], path: "Sources/Inference",
            swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Sessions", dependencies: ["CCmarkGFM"], path: "Sources/Sessions"),
        // OpenAI-compatible endpoints as models: Foundation's URLSession (libcurl on Linux,
        // so https costs no build time) and a small SSE parser of our own.
        .target(name: "Remote", path: "Sources/Remote"),
        .target(
            name: "Serve",
            dependencies: [
                "Inference",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio")
            ], path: "Sources/Serve"),
        .executableTarget(
            name: "ChatTUI",
            dependencies: [
                "Inference", "Sessions", "Remote", "Serve", "CNcursesw",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            path: "Sources/ChatTUI"),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "CKernels"], path: "Tests/InferenceTests"),
        .testTarget(name: "SessionsTests", dependencies: ["Sessions"], path: "Tests/SessionsTests"),
        .testTarget(name: "ChatTUITests", dependencies: ["ChatTUI", "Inference", "Sessions", "Remote"], path: "Tests/ChatTUITests"),
        .testTarget(name: "RemoteTests", dependencies: ["Remote"], path: "Tests/RemoteTests")
    ],
    swiftLanguageModes: [.v5]
)
