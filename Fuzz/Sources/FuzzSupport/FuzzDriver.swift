#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer's documented entry for a program that has its own `main`
/// (https://llvm.org/docs/LibFuzzer.html#using-libfuzzer-as-a-library). SwiftPM gives
/// every executable a `main` of its own, so libFuzzer's would never run: each target's
/// main.swift calls `FuzzDriver.run` instead, which hands the command line to libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

public enum FuzzDriver {
    /// The target's body; a C callback cannot capture it, so it waits here (set once, before fuzzing).
    nonisolated(unsafe) private static var body: ((UnsafeRawBufferPointer) -> Void)?

    /// Runs libFuzzer with this process's arguments, calling `body` once per input.
    /// A crash, a failed `check` or an ASan report inside `body` is a finding;
    /// returning (whatever the parser decided) is not.
    public static func run(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        FuzzDriver.body = body
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let rc = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzDriver.body!(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
        exit(rc)
    }
}
