import CKernels
import COpenBLAS
import Foundation

/// Debian's OpenBLAS (0.3.21) does not recognise CPUs newer than it (Zen 4/5 among
/// them) and falls back to its SSE3 "Prescott" kernels: measured here, sgemm at
/// 512x2048x640 ran at 30 GFLOPS with them and 150 GFLOPS with the AVX-512 ("SkylakeX")
/// kernels on the same two cores. OpenBLAS picks its kernels when the library loads,
/// before `main`, from OPENBLAS_CORETYPE; so when it chose the fallback on a CPU that
/// can run better kernels, the process re-executes itself once with the variable set.
public enum BLASCoreType {
    public static func reexecIfOpenBLASFellBack() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["SPARKCHAT_NO_BLAS_REEXEC"] == nil,
            let name = openblas_get_corename(), String(cString: name).lowercased() == "prescott",
            let hint = ck_openblas_coretype_hint()
        else { return }
        setenv("OPENBLAS_CORETYPE", hint, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv only returns on failure: carry on with the fallback kernels.
    }
}
