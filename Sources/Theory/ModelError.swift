import Numerics

/// Why a model, or a pair of models, was refused.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case emptyModel(String)
    case shapeMismatch(String)
    case nonFinite(array: String, row: Int, column: Int)
    case badWeights(String)
    case pairMismatch(String)
    case numerics(NumericsError)
    /// A probe or concept that cannot be used (wrong length, non-finite).
    case badProbe(String)
    /// A statement's hypotheses fail, so it says nothing (e.g. σ_min(G̃₁) = 0).
    case inapplicable(String)
    /// An input that cannot serve this purpose, for a reason other than its shape
    /// (a teacher that is not diverse, an option out of range): the message says why.
    case refused(String)
    /// A Double quantity that rounding leaves undetermined (a least-squares map whose rows lie so
    /// far apart in scale that the heaviest rows' rounding decides it): the screen cannot form
    /// it, the exact level can.
    case undetermined(String)

    public var description: String {
        switch self {
        case let .emptyModel(m): return "empty model: \(m)"
        case let .shapeMismatch(m): return "shape mismatch: \(m)"
        case let .nonFinite(array, row, column):
            return "array \(array) has a non-finite entry (NaN or infinity) at (\(row), \(column))"
        case let .badWeights(m): return "bad input weights: \(m)"
        case let .pairMismatch(m): return "models cannot be compared: \(m)"
        case let .numerics(e): return e.description
        case let .badProbe(m): return "bad probe: \(m)"
        case let .inapplicable(m): return "inapplicable: \(m)"
        case let .refused(m): return m
        case let .undetermined(m): return "not determined in Double: \(m)"
        }
    }
}
