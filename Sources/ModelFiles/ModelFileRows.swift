import Foundation
import Numerics
import Theory

/// Rows [lo, hi) of a model file: the rows' embeddings, the whole unembeddings, and the
/// rows' raw weights (nil when the file has none: uniform).
public struct ModelRows: Sendable {
    public let model: SoftmaxModel
    public let rows: Range<Int>
    /// N of the whole file.
    public let totalInputs: Int
    public let rawWeights: [Double]?
}

extension ModelFile {
    /// Shard `index` of `count` (1-based) of a model file: rows ⌊N(i−1)/n⌋ ..< ⌊N i/n⌋.
    /// Only those rows of f and w are read: from the memory-mapped archive for stored
    /// entries, by inflating up to the last needed byte for compressed ones; g is read
    /// whole (k×d). Validation as `read`, on the rows read (a partial read cannot check
    /// the entries' CRCs, which cover whole arrays).
    public static func readRows(_ url: URL, shard index: Int, of count: Int) throws -> ModelRows {
        let file = url.path
        if let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int, size == 0 {
            throw ModelFileError.unreadable(file: file, reason: "the file is empty")
        }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw ModelFileError.unreadable(file: file, reason: "no such file, or not readable")
        }
        return try readRows(data, file: file, shard: index, of: count)
    }

    /// The same from an archive's bytes (mapped by the caller); `file` names them in errors.
    public static func readRows(_ data: Data, file: String, shard index: Int, of count: Int) throws -> ModelRows {
        do {
            return try data.withUnsafeBytes { archive in
                let entries = try ZipArchive.entries(in: archive)
                func entry(_ name: String) -> ZipArchive.Entry? { entries.first { $0.name == name + ".npy" } }
                guard let f = entry("f") else { throw ModelFileError.missingArray(file: file, array: "f") }
                guard let gEntry = entry("g") else { throw ModelFileError.missingArray(file: file, array: "g") }
                let g = try whole(gEntry, file: file, array: "g")
                guard g.shape.count == 2, g.shape[0] > 0 else {
                    throw ModelFileError.badArray(file: file, array: "g", reason: "must be 2-D (k×d) and not empty, has shape \(g.shape)")
                }
                let fHeader = try header(f, file: file, array: "f")
                guard fHeader.shape.count == 2, fHeader.shape[0] > 0, fHeader.shape[1] > 0 else {
                    throw ModelFileError.badArray(file: file, array: "f", reason: "must be 2-D (N×d) and not empty, has shape \(fHeader.shape)")
                }
                let (n, d) = (fHeader.shape[0], fHeader.shape[1])
                guard d == g.shape[1] else {
                    throw ModelFileError.badModel(file: file, reason: "f has d = \(d) columns but g has \(g.shape[1])")
                }
                guard (1...n).contains(count), (1...count).contains(index) else {
                    throw ModelFileError.badModel(file: file, reason: "shard \(index)/\(count) of N = \(n) rows: need 1 ≤ i ≤ n ≤ N")
                }
                let rows = (n * (index - 1) / count)..<(n * index / count)
                let embeddings = try rowsOf(f, fHeader, rows, file: file, array: "f")
                if let t = embeddings.firstIndex(where: { !$0.isFinite }) {
                    throw ModelFileError.badArray(file: file, array: "f", reason: "entry [\(rows.lowerBound + t / d), \(t % d)] is \(embeddings[t]); every entry must be finite")
                }
                if let t = g.values.firstIndex(where: { !$0.isFinite }) {
                    throw ModelFileError.badArray(file: file, array: "g", reason: "entry [\(t / d), \(t % d)] is \(g.values[t]); every entry must be finite")
                }
                var weights: [Double]?
                if let w = entry("w") {
                    let wHeader = try header(w, file: file, array: "w")
                    guard wHeader.shape == [n] else {
                        throw ModelFileError.badArray(file: file, array: "w", reason: "must have shape (\(n),) to match f, has \(wHeader.shape)")
                    }
                    let values = try rowsOf(w, wHeader, rows, file: file, array: "w")
                    if let i = values.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                        throw ModelFileError.badArray(file: file, array: "w", reason: "entry [\(rows.lowerBound + i)] is \(values[i]); every weight must be finite and > 0")
                    }
                    weights = values
                }
                do {
                    let model = try SoftmaxModel(embeddings: try Matrix(rows: rows.count, columns: d, storage: embeddings),
                                                 unembeddings: try Matrix(rows: g.shape[0], columns: d, storage: g.values),
                                                 weights: weights)
                    return ModelRows(model: model, rows: rows, totalInputs: n, rawWeights: weights)
                } catch {
                    throw ModelFileError.badModel(file: file, reason: "\(error)")
                }
            }
        } catch let e as ZipError {
            throw ModelFileError.notAnArchive(file: file, reason: e.reason)
        }
    }

    /// A whole entry as an array (CRC checked).
    static func whole(_ entry: ZipArchive.Entry, file: String, array: String) throws -> NumpyArray {
        switch entry.method {
        case .stored:
            guard ZipArchive.crc32(entry.payload) == entry.crc else { throw ZipError("entry \(entry.name) fails its CRC check") }
            return try NumpyArray(npy: entry.payload, file: file, array: array)
        case .deflated:
            let bytes = try ZipArchive.inflate(entry.payload, expectedSize: entry.size, entry: entry.name)
            return try bytes.withUnsafeBytes { raw in
                guard ZipArchive.crc32(raw) == entry.crc else { throw ZipError("entry \(entry.name) fails its CRC check") }
                return try NumpyArray(npy: raw, file: file, array: array)
            }
        }
    }

    /// A parsed .npy header and where its data starts.
    struct LocatedHeader {
        let shape: [Int]
        let fortranOrder: Bool
        let bigEndian: Bool
        let precision: NumpyFormat.Precision
        let dataStart: Int
    }

    static func header(_ entry: ZipArchive.Entry, file: String, array: String) throws -> LocatedHeader {
        func fail(_ reason: String) -> ModelFileError { .badArray(file: file, array: array, reason: reason) }
        guard entry.size >= 10 else { throw fail("not a .npy array (too short)") }
        let magic = try ZipArchive.ranges(of: entry, [(0, 12 <= entry.size ? 12 : 10)])[0]
        guard magic[0] == 0x93, Array(magic[1..<6]) == Array("NUMPY".utf8) else { throw fail("not a .npy array (bad magic bytes)") }
        let major = Int(magic[6])
        guard (1...3).contains(major) else { throw fail("unsupported .npy format version \(major).\(magic[7])") }
        let headerStart = major == 1 ? 10 : 12
        guard magic.count >= headerStart else { throw fail("truncated before the header") }
        let headerLength = (8..<headerStart).reduce(0) { $0 | Int(magic[$1]) << (8 * ($1 - 8)) }
        guard headerStart + headerLength <= entry.size else { throw fail("truncated header (\(headerLength) bytes announced)") }
        let bytes = try ZipArchive.ranges(of: entry, [(headerStart, headerLength)])[0]
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw fail("header is not valid text") }
        let parsed: NpyHeader
        do { parsed = try NpyHeader(parsing: text) } catch let e as NpyHeader.ParseError { throw fail("bad header: \(e.reason)") }
        let precision = try parsed.precision(fail)
        let count = parsed.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? .max : $0 * $1 }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: precision.rawValue)
        guard !overflow, parsed.shape.allSatisfy({ $0 >= 0 }) else { throw fail("shape \(parsed.shape) is too large to address") }
        let start = headerStart + headerLength
        guard entry.size - start == byteCount else {
            throw fail(entry.size - start < byteCount
                ? "truncated data: shape \(parsed.shape) needs \(byteCount) bytes, the file holds \(entry.size - start)"
                : "header says shape \(parsed.shape) (\(byteCount) bytes) but the file holds \(entry.size - start) bytes of data")
        }
        return LocatedHeader(shape: parsed.shape, fortranOrder: parsed.fortranOrder, bigEndian: parsed.bigEndian,
                             precision: precision, dataStart: start)
    }

    /// Rows `rows` of a 1-D or 2-D array, row-major.
    static func rowsOf(_ entry: ZipArchive.Entry, _ h: LocatedHeader, _ rows: Range<Int>, file: String, array: String) throws -> [Double] {
        let n = h.shape[0], width = h.precision.rawValue
        let columns = h.shape.count == 2 ? h.shape[1] : 1
        // C order (or a vector): one contiguous range; Fortran order: one per column.
        let segments: [(offset: Int, count: Int)] = h.fortranOrder && columns > 1
            ? (0..<columns).map { (h.dataStart + (($0 * n) + rows.lowerBound) * width, rows.count * width) }
            : [(h.dataStart + rows.lowerBound * columns * width, rows.count * columns * width)]
        let pieces = try ZipArchive.ranges(of: entry, segments)
        var decoded = pieces.map { piece -> [Double] in
            var values = [Double](repeating: 0, count: piece.count / width)
            piece.withUnsafeBytes { NumpyArray.decode($0.baseAddress!, count: values.count, precision: h.precision, bigEndian: h.bigEndian, into: &values) }
            return values
        }
        guard h.fortranOrder && columns > 1 else { return decoded[0] }
        var out = [Double](repeating: 0, count: rows.count * columns)
        for j in 0..<columns { for i in 0..<rows.count { out[i * columns + j] = decoded[j][i] } }
        decoded.removeAll()
        return out
    }
}
