import Foundation
import Numerics
import Theory

/// Seeded mutation fuzzing of the model-file reader: valid archives (stored and
/// deflated, several dtypes and orders) are mutated by byte flips, overwrites
/// with boundary bytes, truncation, insertion, deletion and splicing of header
/// text; every mutant must read or throw `ModelFileError`. A crash ends the
/// process, which is the failure this catches.
public struct ModelFileFuzzer {
    public struct Count: Sendable {
        public var accepted = 0
        public var rejected = 0
    }

    let seeds: [Data]
    /// The .npy entries of the seeds, mutated on their own and re-archived with a
    /// correct CRC, so mutants reach the .npy parser instead of failing the CRC check.
    let arrays: [(name: String, data: Data)]
    var generator: SeededGenerator

    public init(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let model = ModelGenerator.model(labels: 5, dimension: 3, inputs: 7, using: &g)
        let arrays: [(String, NumpyArray)] = [
            ("f", NumpyArray(shape: [7, 3], values: model.embeddings.storage)),
            ("g", NumpyArray(shape: [5, 3], values: model.unembeddings.storage)),
            ("w", NumpyArray(shape: [7], values: model.weights)),
        ]
        var seeds: [Data] = []
        var entries: [(name: String, data: Data)] = []
        for (format, method) in [(NumpyFormat(), ZipArchive.Method.stored),
                                 (NumpyFormat(precision: .float32, bigEndian: true, fortranOrder: true, version: 2), .deflated),
                                 (NumpyFormat(precision: .float16, version: 3), .stored)] {
            let named = arrays.map { (name: "\($0.0).npy", data: $0.1.npyData(format)) }
            seeds.append(try ZipArchive.write(named, method: method))
            entries += named
        }
        self.seeds = seeds
        self.arrays = entries
        generator = g
    }

    /// Runs `iterations` mutants and counts those read and those rejected: even
    /// iterations mutate whole archives (zip structure, CRC), odd ones mutate one
    /// .npy entry inside a well-formed archive (header parser, dtype, shape, data).
    public mutating func run(iterations: Int) throws -> Count {
        var count = Count()
        for iteration in 0..<iterations {
            let mutant: Data
            if iteration % 2 == 0 {
                mutant = mutate(seeds[generator.int(in: 0...seeds.count - 1)])
            } else {
                let base = generator.int(in: 0...(arrays.count / 3) - 1) * 3
                var entries = Array(arrays[base..<(base + 3)])
                let target = generator.int(in: 0...2)
                entries[target].data = mutate(entries[target].data)
                mutant = try ZipArchive.write(entries, method: generator.int(in: 0...1) == 0 ? .stored : .deflated)
            }
            do {
                _ = try ModelFile.read(mutant, file: "mutant.npz")
                count.accepted += 1
            } catch is ModelFileError {
                count.rejected += 1
            }
            // The shard reader parses the same archive its own way (ranges, partial inflate).
            do { _ = try ModelFile.readRows(mutant, file: "mutant.npz", shard: 2, of: 3) } catch is ModelFileError {}
        }
        return count
    }

    mutating func mutate(_ original: Data) -> Data {
        var bytes = [UInt8](original)
        let boundary: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE, 0x30, 0x39, 0x27, 0x2C, 0x28, 0x29]
        let snippets = ["(", ")", ",", "'", "True", "-1", "99999999999999999999", "<c16", "|O", "{", "}", "<f8", ">f2"]
        for _ in 0..<(1 + generator.int(in: 0...3)) where !bytes.isEmpty {
            let at = generator.int(in: 0...bytes.count - 1)
            switch generator.int(in: 0...6 - 1) {
            case 0: bytes[at] ^= UInt8(1 << generator.int(in: 0...8 - 1))
            case 1: bytes[at] = boundary[generator.int(in: 0...boundary.count - 1)]
            case 2: bytes.removeSubrange(at...)
            case 3: bytes.insert(contentsOf: (0..<generator.int(in: 1...9 - 1)).map { _ in UInt8(generator.int(in: 0...256 - 1)) }, at: at)
            case 4: bytes.removeSubrange(at..<min(bytes.count, at + generator.int(in: 1...17 - 1)))
            default:
                let snippet = Array(snippets[generator.int(in: 0...snippets.count - 1)].utf8)
                bytes.replaceSubrange(at..<min(bytes.count, at + snippet.count), with: snippet)
            }
        }
        return Data(bytes)
    }
}
