import CKernels

@testable import Inference

/// Reads back a prepared activation as the kernels see it: our act32 (d, d·Σq, 32 × int8)
/// and act256 (d, 16 × int16 sums, 256 × int8) layouts, or plain floats.
enum Activations {
    static func values(_ type: GGMLType, _ act: [UInt8], _ n: Int) -> [Float] {
        act.withUnsafeBytes { p -> [Float] in
            switch Int(ck_activation_type(Int32(type.rawValue))) {
            case Int(CK_Q8_0):
                return (0..<n).map { i in
                    let b = p.baseAddress! + (i / 32) * 40
                    return b.loadUnaligned(as: Float.self) * Float(b.load(fromByteOffset: 8 + i % 32, as: Int8.self))
                }
            case Int(CK_Q8_K):
                return (0..<n).map { i in
                    let b = p.baseAddress! + (i / 256) * 292
                    return b.loadUnaligned(as: Float.self) * Float(b.load(fromByteOffset: 36 + i % 256, as: Int8.self))
                }
            default:
                return (0..<n).map { p.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
            }
        }
    }
}
