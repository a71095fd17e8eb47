import CGMP

/// Exact field operations and ordering.
extension Rational {
    private static func binary(_ a: Rational, _ b: Rational,
                               _ op: (UnsafeMutablePointer<__mpq_struct>, UnsafePointer<__mpq_struct>,
                                      UnsafePointer<__mpq_struct>) -> Void) -> Rational {
        let r = Rational()
        op(r.value, a.value, b.value)
        return r
    }

    public static func + (a: Rational, b: Rational) -> Rational { binary(a, b, __gmpq_add) }
    public static func - (a: Rational, b: Rational) -> Rational { binary(a, b, __gmpq_sub) }
    public static func * (a: Rational, b: Rational) -> Rational { binary(a, b, __gmpq_mul) }

    /// a / b; b must not be zero (check `isZero` first).
    public static func / (a: Rational, b: Rational) -> Rational {
        precondition(!b.isZero, "Rational: division by zero")
        return binary(a, b, __gmpq_div)
    }

    public static prefix func - (a: Rational) -> Rational {
        let r = Rational()
        __gmpq_neg(r.value, a.value)
        return r
    }

    public var magnitude: Rational {
        let r = Rational()
        __gmpq_abs(r.value, value)
        return r
    }

    public var squared: Rational { self * self }

    /// The sum of a sequence of rationals (0 for none).
    public static func sum<S: Sequence>(_ terms: S) -> Rational where S.Element == Rational {
        let acc = Rational()
        for t in terms { __gmpq_add(acc.value, acc.value, t.value) }
        return acc
    }
}

extension Rational: Comparable, Hashable {
    public static func == (a: Rational, b: Rational) -> Bool { __gmpq_equal(a.value, b.value) != 0 }
    public static func < (a: Rational, b: Rational) -> Bool { __gmpq_cmp(a.value, b.value) < 0 }

    public func hash(into hasher: inout Hasher) { hasher.combine(exactString) }

    public static func max(_ a: Rational, _ b: Rational) -> Rational { a < b ? b : a }
    public static func min(_ a: Rational, _ b: Rational) -> Rational { a < b ? a : b }
}
