import Foundation

/// How a model skips work, in the words the picker, `sparkchat models` and the stats
/// panel use: "dense", "sparkify 50% FFN" (a sparkify overlay on a dense Gemma),
/// "spark 8% FFN · 256 keys" (a Spark checkpoint: FFN fraction and keys per query).
public enum ModelSparsity {
    public static let dense = "dense"

    /// 0.5 → "50%", 0.08 → "8%", 0.125 → "12.5%".
    static func percent(_ fraction: Double) -> String { String(format: "%g%%", (fraction * 1000).rounded() / 10) }

    public static func sparkify(fraction: Double) -> String { "sparkify \(percent(fraction)) FFN" }

    /// From a Spark checkpoint's config.json; nil when the keys are missing (not a Spark model).
    static func spark(config: [String: Any]) -> String? {
        guard let f = (config["spark_ffn_fraction"] as? NSNumber)?.doubleValue else { return nil }
        let keys = (config["spark_attn_topk"] as? NSNumber)?.intValue
        return "spark \(percent(f)) FFN" + (keys.map { " · \($0) keys" } ?? "")
    }
}
