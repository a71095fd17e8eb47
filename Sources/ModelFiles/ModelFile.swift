import Foundation
import Numerics
import Theory

/// A model as a NumPy `.npz` archive: `f` (N×d), `g` (k×d), optional `w` (N).
/// Arrays may be float16/32/64 in either byte order and C or Fortran order; the
/// archive may be stored (`np.savez`) or deflated (`np.savez_compressed`).
public enum ModelFile {
    /// Writes a model; float64, C order, stored entries unless told otherwise.
    public static func write(_ model: SoftmaxModel, to url: URL, format: NumpyFormat = NumpyFormat(),
                             compressed: Bool = false) throws {
        let arrays: [(String, NumpyArray)] = [
            ("f", NumpyArray(shape: [model.inputCount, model.dimension], values: model.embeddings.storage)),
            ("g", NumpyArray(shape: [model.labelCount, model.dimension], values: model.unembeddings.storage)),
            ("w", NumpyArray(shape: [model.inputCount], values: model.givenWeights)),
        ]
        try write(arrays: arrays, to: url, format: format, compressed: compressed)
    }

    /// Writes named arrays as an .npz archive (entries "name.npy").
    public static func write(arrays: [(String, NumpyArray)], to url: URL, format: NumpyFormat = NumpyFormat(),
                             compressed: Bool = false) throws {
        do {
            let zip = try ZipArchive.write(arrays.map { (name: "\($0.0).npy", data: $0.1.npyData(format)) },
                                           method: compressed ? .deflated : .stored)
            try zip.write(to: url)
        } catch let e as ZipError {
            throw ModelFileError.unreadable(file: url.path, reason: "cannot write: \(e.reason)")
        } catch {
            throw ModelFileError.unreadable(file: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// The arrays of an .npz archive by name (without ".npy"). Entries that are
    /// not .npy files are ignored.
    /// `integers` also accepts bool and integer arrays (for datasets: labels, splits, concepts).
    public static func readArrays(_ url: URL, integers: Bool = false) throws -> [String: NumpyArray] {
        try readArrays(mapped(url), file: url.path, integers: integers)
    }

    /// The file memory-mapped, here (not by Foundation, which may read a file into memory
    /// instead), so that `releasePages` may drop pages of it: they are the file's, read again
    /// when touched. An empty file is refused (0 bytes cannot be mapped).
    static func mapped(_ url: URL) throws -> Data {
        try requireRegularFile(url)
        let unreadable = ModelFileError.unreadable(file: url.path, reason: "no such file, or not readable")
        // O_NONBLOCK: a path replaced by a pipe since the check must not block the open.
        let descriptor = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw unreadable }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { throw unreadable }
        guard status.st_size > 0 else { throw ModelFileError.unreadable(file: url.path, reason: "the file is empty") }
        guard let size = Int(exactly: status.st_size) else { throw unreadable }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else { throw unreadable }
        return Data(bytesNoCopy: base, count: size, deallocator: .custom { munmap($0, $1) })
    }

    /// Drops the whole pages inside `bytes`, part of a `mapped` file, from the process's resident
    /// set (MADV_DONTNEED on a private mapping never written: touched again, they are read from
    /// the file). Only for bytes of `mapped`: on other memory it would zero them.
    static func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let start = (UInt(bitPattern: base) + page - 1) / page * page, end = (UInt(bitPattern: base) + UInt(bytes.count)) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_DONTNEED)
    }

    /// Why `path` cannot be reached, or nil when it can (stat succeeds; it follows symbolic
    /// links): for file arguments that may also name directories (`distill --text`).
    public static func unreachable(_ path: String) -> String? {
        var info = stat()
        let status = stat(path, &info), code = errno
        return status == 0 ? nil : statFailure(path, code)
    }

    /// The reason a stat of `path` failed with `code`, in words.
    static func statFailure(_ path: String, _ code: Int32) -> String {
        switch code {
        case ELOOP: return "a loop of symbolic links"
        case ENOENT: return (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
            ? "a symbolic link to a file that does not exist" : "no such file"
        case EACCES: return "permission denied"
        case ENOTDIR: return path.hasSuffix("/") && unreachable(String(path.dropLast())) == nil
            ? "not a directory: a file's name followed by \"/\"" : "no such file (a part of the path is not a directory)"
        case ENAMETOOLONG: return "the path is too long"
        default: return "no such file, or not readable (\(String(cString: strerror(code))))"
        }
    }

    /// Refuses, by name, what is not a non-empty regular file: a missing path, a directory,
    /// a device or pipe (/dev/zero would be read forever), an empty file, a file named with a
    /// trailing "/".
    public static func requireRegularFile(_ url: URL) throws {
        // stat follows symbolic links, and says why it cannot (a loop, a link to nothing).
        var info = stat()
        let path = url.path
        let status = stat(path, &info), code = errno   // read at once: a later release may call free
        guard status == 0 else { throw ModelFileError.unreadable(file: url.path, reason: statFailure(path, code)) }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: throw ModelFileError.unreadable(file: url.path, reason: "it is a directory, not a file")
        case S_IFREG:
            // URL drops a trailing "/" from its path, so stat found the file; the system refuses
            // "file/" as not a directory, and so do we.
            if url.hasDirectoryPath {
                throw ModelFileError.unreadable(file: url.path + "/", reason: "not a directory: a file's name followed by \"/\"")
            }
        default: throw ModelFileError.unreadable(file: url.path, reason: "not a regular file (a device, pipe or socket)")
        }
        if info.st_size == 0 { throw ModelFileError.unreadable(file: url.path, reason: "the file is empty") }
        // A file that exists but may not be read (mode 000 for this user): say so, not "no such file".
        let readable = access(path, R_OK), accessCode = errno
        if readable != 0 && accessCode == EACCES { throw ModelFileError.unreadable(file: url.path, reason: "permission denied") }
    }

    /// A binary concept from a `.npy` file: N values, each 0 or 1 (float, integer or
    /// bool dtype; shape (N,) or (N, 1)). `expected` is the number of inputs.
    public static func readConcept(_ url: URL, expected: Int) throws -> [Bool] {
        try requireRegularFile(url)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelFileError.unreadable(file: url.path, reason: "no such file, or not readable")
        }
        let array = try NumpyArray(npy: data, file: url.path, array: "concept", integers: true)
        let count = array.values.count
        guard array.shape == [count] || array.shape == [count, 1] else {
            throw ModelFileError.badArray(file: url.path, array: "concept", reason: "shape \(array.shape) is not a vector (N,) or (N, 1)")
        }
        guard count == expected else {
            throw ModelFileError.badArray(file: url.path, array: "concept", reason: "\(count) values, but the teacher has N = \(expected) inputs")
        }
        if let i = array.values.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw ModelFileError.badArray(file: url.path, array: "concept", reason: "value \(array.values[i]) at index \(i) is not 0 or 1")
        }
        return array.values.map { $0 == 1 }
    }

    /// The arrays of .npz bytes; `file` names them in errors. With `only`, other arrays are
    /// skipped unread (a model file may carry labels, names or anything else beside f, g, w).
    public static func readArrays(_ data: Data, file: String, integers: Bool = false, only: Set<String>? = nil) throws -> [String: NumpyArray] {
        var arrays: [String: NumpyArray] = [:]
        do {
            try data.withUnsafeBytes { archive in
                for entry in try ZipArchive.entries(in: archive) where entry.name.hasSuffix(".npy") {
                    let array = String(entry.name.dropLast(4))
                    if let only, !only.contains(array) { continue }
                    try ZipArchive.withContents(of: entry) { bytes in
                        arrays[array] = try NumpyArray(npy: bytes, file: file, array: array, integers: integers)
                    }
                }
            }
        } catch let e as ZipError {
            throw ModelFileError.notAnArchive(file: file, reason: e.reason)
        }
        return arrays
    }

    /// Reads and validates a model file: `f` and `g` present, 2-D, with equal d;
    /// `w`, if present, 1-D of length N with positive entries; every entry finite.
    public static func read(_ url: URL) throws -> SoftmaxModel {
        try model(from: try readArrays(mapped(url), file: url.path, only: modelArrays), file: url.path)
    }

    /// Reads and validates a model from .npz bytes; `file` names them in errors.
    public static func read(_ data: Data, file: String) throws -> SoftmaxModel {
        try model(from: try readArrays(data, file: file, only: modelArrays), file: file)
    }

    /// The arrays a model file is read for; any others are ignored.
    static let modelArrays: Set<String> = ["f", "g", "w"]

    /// Every entry finite; an error names the first one that is not, by its row (counted
    /// from `firstRow`) and column.
    static func requireFinite(_ values: [Double], columns: Int, firstRow: Int = 0, file: String, array: String) throws {
        if let t = firstNonFinite(values) {
            throw ModelFileError.badArray(file: file, array: array,
                                          reason: "entry [\(firstRow + t / columns), \(t % columns)] is \(values[t]); every entry must be finite")
        }
    }

    /// Every weight finite and positive; an error names the first that is not (index
    /// counted from `firstIndex`).
    static func requireWeights(_ values: [Double], firstIndex: Int = 0, file: String) throws {
        if let i = values.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw ModelFileError.badArray(file: file, array: "w",
                                          reason: "entry [\(firstIndex + i)] is \(values[i]); every weight must be finite and > 0")
        }
    }

    static func model(from arrays: [String: NumpyArray], file: String) throws -> SoftmaxModel {
        func bad(_ name: String, _ reason: String) -> ModelFileError { .badArray(file: file, array: name, reason: reason) }
        guard let f = arrays["f"] else { throw ModelFileError.missingArray(file: file, array: "f") }
        guard let g = arrays["g"] else { throw ModelFileError.missingArray(file: file, array: "g") }
        guard f.shape.count == 2 else { throw bad("f", "must be 2-D (N×d), has shape \(f.shape)") }
        guard g.shape.count == 2 else { throw bad("g", "must be 2-D (k×d), has shape \(g.shape)") }
        guard f.shape[0] > 0, f.shape[1] > 0 else { throw bad("f", "is empty (shape \(f.shape))") }
        guard g.shape[0] > 0 else { throw bad("g", "is empty (shape \(g.shape))") }
        guard f.shape[1] == g.shape[1] else {
            throw ModelFileError.badModel(file: file, reason: "f has d = \(f.shape[1]) columns but g has \(g.shape[1])")
        }
        for (name, a) in [("f", f), ("g", g)] {
            try requireFinite(a.values, columns: a.shape[1], file: file, array: name)
        }
        let w = arrays["w"]
        if let w {
            guard w.shape == [f.shape[0]] else { throw bad("w", "must have shape (\(f.shape[0]),) to match f, has \(w.shape)") }
            try requireWeights(w.values, file: file)
        }
        do {
            return try SoftmaxModel(embeddings: try Matrix(rows: f.shape[0], columns: f.shape[1], storage: f.values),
                                    unembeddings: try Matrix(rows: g.shape[0], columns: g.shape[1], storage: g.values),
                                    weights: w?.values, checkingFinite: false)
        } catch {
            throw ModelFileError.badModel(file: file, reason: "\(error)")
        }
    }
}
