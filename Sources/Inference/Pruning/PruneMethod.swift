import Foundation

/// What `sparkchat prune` does to each layer matrix (JaxPruner's one-shot methods).
public enum PruneMethod: Sendable, Equatable, CustomStringConvertible {
    /// Unstructured: the `fraction` of weights with the smallest magnitude become zero,
    /// counted per matrix (`.layer`) or against one threshold across all of them (`.global`).
    case magnitude(fraction: Double, scope: Scope)
    /// Semi-structured: in every group of `m` consecutive weights along the input
    /// dimension (a row of GGML's layout) the `n` largest magnitudes are kept.
    case nOfM(n: Int, m: Int)

    public enum Scope: String, Sendable, CaseIterable { case layer, global }

    /// Parses `magnitude:F` (F in (0, 1)) or `N:M` (0 < N < M ≤ 64).
    public static func parse(_ text: String, scope: Scope = .layer) throws -> PruneMethod {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw EngineError.input("method must be magnitude:F or N:M (got \(text))") }
        if parts[0] == "magnitude" {
            guard let f = Double(parts[1]), f > 0, f < 1 else {
                throw EngineError.input("magnitude:F needs a fraction F in (0, 1) (got \(parts[1]))")
            }
            return .magnitude(fraction: f, scope: scope)
        }
        guard let n = Int(parts[0]), let m = Int(parts[1]), n > 0, n < m, m <= 64 else {
            throw EngineError.input("method must be magnitude:F or N:M with 0 < N < M <= 64 (got \(text))")
        }
        return .nOfM(n: n, m: m)
    }

    /// The fraction of a matrix's weights set to zero.
    public var prunedFraction: Double {
        switch self {
        case .magnitude(let f, _): return f
        case .nOfM(let n, let m): return Double(m - n) / Double(m)
        }
    }

    /// Short tag for file names: `mag0.5`, `mag0.5-global`, `2of4`.
    public var tag: String {
        switch self {
        case .magnitude(let f, let scope): return "mag\(String(format: "%g", f))" + (scope == .global ? "-global" : "")
        case .nOfM(let n, let m): return "\(n)of\(m)"
        }
    }

    public var description: String {
        switch self {
        case .magnitude(let f, let scope): return "magnitude:\(String(format: "%g", f)) (\(scope.rawValue))"
        case .nOfM(let n, let m): return "\(n):\(m)"
        }
    }

    /// The default output name beside the model: `<stem>.prune-<tag>.gguf` for a GGUF
    /// file, `<directory>.prune-<tag>` for a checkpoint directory.
    public func outputName(base: String, isDirectory: Bool) -> String {
        let url = URL(fileURLWithPath: base)
        return isDirectory ? "\(url.lastPathComponent).prune-\(tag)" : "\(url.deletingPathExtension().lastPathComponent).prune-\(tag).gguf"
    }
}
