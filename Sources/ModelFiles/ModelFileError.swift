/// A problem with a model file, naming the file and, where it applies, the array.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case notAnArchive(file: String, reason: String)
    case missingArray(file: String, array: String)
    case badArray(file: String, array: String, reason: String)
    case badModel(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read: \(reason)"
        case let .notAnArchive(file, reason): return "\(file): not a NumPy .npz archive: \(reason)"
        case let .missingArray(file, array): return "\(file): no array '\(array)' in the archive (a model file needs f (N×d) and g (k×d), optionally w (N))"
        case let .badArray(file, array, reason): return "\(file): array '\(array)': \(reason)"
        case let .badModel(file, reason): return "\(file): \(reason)"
        }
    }
}
