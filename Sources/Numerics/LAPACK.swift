import CLAPACKE

/// Runs a LAPACKE call and turns a negative `info` (a bad argument, which is a bug
/// here) or an unexpected positive one into a typed error.
@inline(__always)
func lapackCheck(_ routine: String, _ info: lapacke_index) throws {
    if info != 0 { throw NumericsError.lapackFailure(routine: routine, info: info) }
}

let rowMajor = LAPACK_ROW_MAJOR

/// `UInt8(ascii:)` as the `CChar` LAPACKE wants for job and uplo flags.
@inline(__always)
func flag(_ c: Unicode.Scalar) -> CChar { CChar(UInt8(ascii: c)) }
