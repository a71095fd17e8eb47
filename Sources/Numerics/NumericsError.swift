/// Why a numerical operation refused its input or could not finish.
public enum NumericsError: Error, Equatable, CustomStringConvertible {
    /// Two operands whose shapes do not fit together.
    case dimensionMismatch(operation: String, left: (Int, Int), right: (Int, Int))
    /// An entry that is NaN or ±∞, with its position.
    case nonFinite(operation: String, row: Int, column: Int)
    /// A square matrix that is singular (exactly, or to working precision).
    case singular(operation: String)
    /// A matrix that was required to be positive definite and is not.
    case notPositiveDefinite(operation: String)
    /// An argument outside its allowed range.
    case invalidArgument(String)
    /// A LAPACK routine reported failure (`info` as LAPACK returns it).
    case lapackFailure(routine: String, info: Int32)

    public static func == (a: NumericsError, b: NumericsError) -> Bool {
        a.description == b.description
    }

    public var description: String {
        switch self {
        case let .dimensionMismatch(op, l, r):
            return "\(op): shapes \(l.0)×\(l.1) and \(r.0)×\(r.1) do not fit together"
        case let .nonFinite(op, i, j):
            return "\(op): entry (\(i), \(j)) is not finite (NaN or infinity)"
        case let .singular(op):
            return "\(op): the matrix is singular"
        case let .notPositiveDefinite(op):
            return "\(op): the matrix is not positive definite"
        case let .invalidArgument(message):
            return message
        case let .lapackFailure(routine, info):
            return "LAPACK \(routine) failed with info = \(info)"
        }
    }
}
