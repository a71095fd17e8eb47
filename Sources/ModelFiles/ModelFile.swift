import Foundation
import Numerics
import Theory

/// A model as a NumPy `.npz` archive: `f` (N×d), `g` (k×d), optional `w` (N).
public enum ModelFile {
    public static func write(_ model: SoftmaxModel, to url: URL) throws {
        let arrays: [(String, NumpyArray)] = [
            ("f", NumpyArray(shape: [model.inputCount, model.dimension], values: model.embeddings.storage)),
            ("g", NumpyArray(shape: [model.labelCount, model.dimension], values: model.unembeddings.storage)),
            ("w", NumpyArray(shape: [model.inputCount], values: model.weights)),
        ]
        try write(arrays: arrays, to: url)
    }

    /// Writes named float64 arrays as an .npz archive (entries "name.npy", stored).
    public static func write(arrays: [(String, NumpyArray)], to url: URL) throws {
        let zip = StoredZip.write(arrays.map { (name: "\($0.0).npy", data: $0.1.npyData) })
        do { try zip.write(to: url) } catch {
            throw ModelFileError.unreadable(file: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    public static func read(_ url: URL) throws -> SoftmaxModel {
        let file = url.path
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ModelFileError.unreadable(file: file, reason: "no such file, or not readable")
        }
        let entries = try StoredZip.read(data, file: file)
        func array(_ name: String, required: Bool) throws -> NumpyArray? {
            guard let bytes = entries["\(name).npy"] else {
                if required { throw ModelFileError.missingArray(file: file, array: name) }
                return nil
            }
            return try NumpyArray(npy: bytes, file: file, array: name)
        }
        let f = try array("f", required: true)!, g = try array("g", required: true)!
        let w = try array("w", required: false)
        guard f.shape.count == 2 else { throw ModelFileError.badArray(file: file, array: "f", reason: "must be 2-D (N×d), has shape \(f.shape)") }
        guard g.shape.count == 2 else { throw ModelFileError.badArray(file: file, array: "g", reason: "must be 2-D (k×d), has shape \(g.shape)") }
        for (name, a) in [("f", f), ("g", g)] + (w.map { [("w", $0)] } ?? []) {
            if let i = a.values.firstIndex(where: { !$0.isFinite }) {
                throw ModelFileError.badArray(file: file, array: name, reason: "entry \(i) (flat index) is \(a.values[i])")
            }
        }
        do {
            return try SoftmaxModel(embeddings: try Matrix(rows: f.shape[0], columns: f.shape[1], storage: f.values),
                                    unembeddings: try Matrix(rows: g.shape[0], columns: g.shape[1], storage: g.values),
                                    weights: w?.values)
        } catch {
            throw ModelFileError.badModel(file: file, reason: "\(error)")
        }
    }
}
