import Foundation
import Numerics

/// What `measure` holds at its peak, judged from the models' shapes before their arrays are
/// read, so that a pair too large for the machine is refused with the reason instead of being
/// killed by the system part-way through.
public enum MeasureMemory {
    /// Bytes at the peak of a run over `rows` inputs (a shard's, or all N) of a pair with `k`
    /// labels and embedding dimensions dA, dB: both models' arrays as Doubles (rows×d and k×d),
    /// a centred copy of each G, c·max(d)² Doubles for the d×d work (c = 48 for one certified
    /// run: the moments, their decompositions and the enclosures, whose intervals take two
    /// Doubles an entry; 18 uncertified; a shard, which decomposes nothing, 38 and 8), and
    /// 128 MiB a core for the logit pass's blocks. Against the peaks measured at four shapes
    /// (k from 8 192 to 300 000, d from 768 to 2 048), as runs and shards, certified and not,
    /// it lies between 5 % below and 6 % above (notes/benchmarks.md, stop 52).
    public static func estimatedBytes(rows n: Int, labels k: Int, dimensions: (a: Int, b: Int), cores: Int,
                                      certifying: Bool, shard: Bool) -> Double {
        let d = Double(dimensions.a) + Double(dimensions.b), top = Double(max(dimensions.a, dimensions.b))
        let squares: Double = shard ? (certifying ? 38 : 8) : (certifying ? 48 : 18)
        return 8 * (Double(n) * d + 2 * Double(k) * d + squares * top * top) + Double(cores) * 0x1p27
    }

    /// Why a run over `rows` of `inputs` inputs would not fit in `limit` bytes; nil when it fits.
    public static func refusal(rows n: Int, inputs: Int, labels k: Int, dimensions: (a: Int, b: Int), cores: Int,
                               certifying: Bool, limit: Double) -> String? {
        let need = estimatedBytes(rows: n, labels: k, dimensions: dimensions, cores: cores, certifying: certifying, shard: n < inputs)
        guard need > limit else { return nil }
        let gb = { (bytes: Double) in String(format: "%.1f GB", bytes / 1e9) }
        let rowsPart = 8 * Double(n) * Double(dimensions.a + dimensions.b)
        let shape = "N = \(inputs)\(n < inputs ? " (\(n) in this shard)" : ""), k = \(k), d = \(dimensions.a) and \(dimensions.b)"
        let advice = rowsPart > need / 2 && n > 1
            ? "split the inputs with --shard i/n --partial FILE (each shard holds only its rows of f) and combine the partials with `logitbounds merge`"
            : "every shard holds g (k×d) whole, so sharding does not help: run it on a machine with more memory"
        return "measuring this pair needs about \(gb(need)) at its peak (\(shape): both models' arrays, a centred copy of each g, the d×d work), "
            + "more than the \(gb(limit)) this process may use (the machine's memory or its control group's limit; LOGITBOUNDS_MEMORY_LIMIT sets it); \(advice)"
    }
}
