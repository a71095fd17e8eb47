import Foundation
import Numerics
import Theory

/// A model file's sizes: f is N×d, g is k×d.
public struct ModelShape: Sendable, Equatable {
    public let inputs: Int
    public let dimension: Int
    public let labels: Int
    /// Whether the file holds input weights w.
    public let weighted: Bool

    public init(inputs: Int, dimension: Int, labels: Int, weighted: Bool = false) {
        (self.inputs, self.dimension, self.labels, self.weighted) = (inputs, dimension, labels, weighted)
    }
}

/// Rows [lo, hi) of a model file: the rows' embeddings, the whole unembeddings, and the
/// rows' raw weights (nil when the file has none: uniform).
public struct ModelRows: Sendable {
    public let model: SoftmaxModel
    public let rows: Range<Int>
    /// N of the whole file.
    public let totalInputs: Int
    public let rawWeights: [Double]?
    /// Every input's weight in the file (nil: no w, uniform), each checked as `read` checks it:
    /// every shard refuses a bad weight anywhere in w, and can compare the teacher's and the
    /// student's weights over all N (8·N bytes; a shard's own rows of f take 8·d·N/n).
    public let fileWeights: [Double]?
    /// The CRC-32 of each array as the archive stores it ("f 1a2b3c4d g … w …"): the
    /// same in every shard of one file, different (with overwhelming probability) for
    /// any other f, g or w, so `merge` can refuse partials of different files.
    public let arrayChecksums: String
}

extension ModelFile {
    /// Shard `index` of `count` (1-based) of a model file: rows ⌊N(i−1)/n⌋ ..< ⌊N i/n⌋.
    /// Only those rows of f are read: from the memory-mapped archive for stored
    /// entries, by inflating up to the last needed byte for compressed ones; g is read
    /// whole (k×d), and w whole. Validation as `read`, on the rows read and on all of w; the CRC-32 of every array is
    /// checked over the whole array, streamed (reading it costs far less than the logit
    /// pass over the shard's rows), so a damaged array is refused by every shard.
    public static func readRows(_ url: URL, shard index: Int, of count: Int) throws -> ModelRows {
        try readRows(mapped(url), file: url.path, shard: index, of: count, releasingPages: true)
    }

    /// The same from an archive's bytes (mapped by the caller); `file` names them in errors.
    public static func readRows(_ data: Data, file: String, shard index: Int, of count: Int) throws -> ModelRows {
        try readRows(data, file: file, shard: index, of: count, releasingPages: false)
    }

    /// `releasingPages`: `data` is a `mapped` file, whose pages the CRC check may drop.
    static func readRows(_ data: Data, file: String, shard index: Int, of count: Int, releasingPages: Bool) throws -> ModelRows {
        do {
            return try data.withUnsafeBytes { archive in
                let layout = try modelLayout(try ZipArchive.entries(in: archive), file: file)
                let (f, gEntry, fHeader) = (layout.f, layout.g, layout.fHeader)
                let (n, d) = (layout.shape.inputs, layout.shape.dimension)
                let g = try ZipArchive.withContents(of: gEntry) { try NumpyArray(npy: $0, file: file, array: "g") }
                guard (1...n).contains(count), (1...count).contains(index) else {
                    throw ModelFileError.badModel(file: file, reason: "shard \(index)/\(count) of N = \(n) rows: need 1 ≤ i ≤ n ≤ N")
                }
                let rows = (n * (index - 1) / count)..<(n * index / count)
                // Rows first, then the CRC over the whole array: a file rewritten while it is read
                // then fails the check, instead of passing it before the rows are read again.
                let embeddings = try ZipArchive.checked(f, releasingPages: releasingPages) { try rowsOf(f, fHeader, rows) }
                try requireFinite(embeddings, columns: d, firstRow: rows.lowerBound, file: file, array: "f")
                try requireFinite(g.values, columns: d, file: file, array: "g")
                var weights: [Double]?, fileWeights: [Double]?
                if let (w, wHeader) = layout.w {
                    let values = try ZipArchive.checked(w, releasingPages: releasingPages) { try rowsOf(w, wHeader, 0..<n) }
                    try requireWeights(values, file: file)
                    (weights, fileWeights) = (Array(values[rows]), values)
                }
                do {
                    let model = try SoftmaxModel(embeddings: try Matrix(rows: rows.count, columns: d, storage: embeddings),
                                                 unembeddings: try Matrix(rows: g.shape[0], columns: d, storage: g.values),
                                                 weights: weights, checkingFinite: false)
                    let checksums = [f, gEntry] + (layout.w.map { [$0.entry] } ?? [])
                    return ModelRows(model: model, rows: rows, totalInputs: n, rawWeights: weights, fileWeights: fileWeights,
                                     arrayChecksums: checksums.map { "\($0.name.dropLast(4)) \(String(format: "%08x", $0.crc))" }.joined(separator: " "))
                } catch {
                    throw ModelFileError.badModel(file: file, reason: "\(error)")
                }
            }
        } catch let e as ZipError {
            throw ModelFileError.notAnArchive(file: file, reason: e.reason)
        }
    }

    /// N, d and k of a model file from the headers of f (N×d) and g (k×d) alone, each checked
    /// against its entry's size, without reading the arrays: what a run will hold can be judged
    /// before it reads them. The same errors as `read` for missing, misshapen or truncated arrays.
    public static func shape(_ url: URL) throws -> ModelShape {
        let data = try mapped(url), file = url.path
        do {
            return try data.withUnsafeBytes { try modelLayout(try ZipArchive.entries(in: $0), file: file).shape }
        } catch let e as ZipError {
            throw ModelFileError.notAnArchive(file: file, reason: e.reason)
        }
    }

    /// The f, g and (when present) w entries of a model file and its shape, from their headers:
    /// f and g present, 2-D and not empty, with equal d; w of length N.
    static func modelLayout(_ entries: [ZipArchive.Entry], file: String) throws
        -> (f: ZipArchive.Entry, g: ZipArchive.Entry, fHeader: NpyLayout, w: (entry: ZipArchive.Entry, header: NpyLayout)?, shape: ModelShape) {
        func entry(_ name: String) -> ZipArchive.Entry? { entries.first { $0.name == name + ".npy" } }
        guard let f = entry("f") else { throw ModelFileError.missingArray(file: file, array: "f") }
        guard let g = entry("g") else { throw ModelFileError.missingArray(file: file, array: "g") }
        let gShape = try header(g, file: file, array: "g").header.shape
        guard gShape.count == 2, gShape[0] > 0 else {
            throw ModelFileError.badArray(file: file, array: "g", reason: "must be 2-D (k×d) and not empty, has shape \(gShape)")
        }
        let fHeader = try header(f, file: file, array: "f")
        let fShape = fHeader.header.shape
        guard fShape.count == 2, fShape[0] > 0, fShape[1] > 0 else {
            throw ModelFileError.badArray(file: file, array: "f", reason: "must be 2-D (N×d) and not empty, has shape \(fShape)")
        }
        guard fShape[1] == gShape[1] else {
            throw ModelFileError.badModel(file: file, reason: "f has d = \(fShape[1]) columns but g has \(gShape[1])")
        }
        // w, when present, is a vector of N weights.
        let w = try entry("w").map { (entry: $0, header: try header($0, file: file, array: "w")) }
        if let w, w.header.header.shape != [fShape[0]] {
            throw ModelFileError.badArray(file: file, array: "w", reason: "must have shape (\(fShape[0]),) to match f, has \(w.header.header.shape)")
        }
        return (f, g, fHeader, w, ModelShape(inputs: fShape[0], dimension: fShape[1], labels: gShape[0], weighted: w != nil))
    }

    /// An entry's .npy layout, from its first bytes only (floats: f and w).
    static func header(_ entry: ZipArchive.Entry, file: String, array: String) throws -> NpyLayout {
        func fail(_ reason: String) -> ModelFileError { .badArray(file: file, array: array, reason: reason) }
        let first = try ZipArchive.ranges(of: entry, [(0, min(entry.size, 12))])[0]
        let end = try first.withUnsafeBytes { try NpyLayout.headerRange($0, size: entry.size, fail: fail) }.upperBound
        let prefix = try ZipArchive.ranges(of: entry, [(0, end)])[0]
        return try prefix.withUnsafeBytes { try NpyLayout($0, size: entry.size, integers: false, fail: fail) }
    }

    /// Rows `rows` of a 1-D or 2-D array, row-major.
    static func rowsOf(_ entry: ZipArchive.Entry, _ h: NpyLayout, _ rows: Range<Int>) throws -> [Double] {
        let shape = h.header.shape, n = shape[0], width = h.precision.rawValue
        let columns = shape.count == 2 ? shape[1] : 1
        // C order (or a vector): one contiguous range; Fortran order: one per column.
        let segments: [(offset: Int, count: Int)] = h.header.fortranOrder && columns > 1
            ? (0..<columns).map { (h.dataStart + (($0 * n) + rows.lowerBound) * width, rows.count * width) }
            : [(h.dataStart + rows.lowerBound * columns * width, rows.count * columns * width)]
        let pieces = try ZipArchive.ranges(of: entry, segments)
        var decoded = pieces.map { piece -> [Double] in
            piece.withUnsafeBytes { NumpyArray.decode($0.baseAddress!, count: piece.count / width, precision: h.precision, bigEndian: h.header.bigEndian) }
        }
        guard h.header.fortranOrder && columns > 1 else { return decoded[0] }
        var out = [Double](repeating: 0, count: rows.count * columns)
        for j in 0..<columns { for i in 0..<rows.count { out[i * columns + j] = decoded[j][i] } }
        decoded.removeAll()
        return out
    }
}
