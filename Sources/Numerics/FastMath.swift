import CFastKernels
import Foundation

/// exp and log with proven error bounds in Double arithmetic (round to nearest, no
/// rounding-mode switch), for `FastInterval`. Each function returns a guaranteed
/// lower or upper bound of the true value; none rests on libm's accuracy. The
/// bounds and their proofs: Proofs/certificates.md §2 (exp) and §3 (log).
///
///   exp: x = k·ln 2 + r (|r| ≤ 0.3466, r from two fused multiply-adds against
///        ln 2 split in two Doubles), exp(r) by its degree-13 Taylor polynomial in
///        Horner form with fused multiply-adds, scaled by 2^k exactly:
///        |y − eˣ| ≤ 3.52u·eˣ (+ η when the result is subnormal); widened by 8u.
///   log: x = m·2^e (√½ ≤ m < √2), log m = 2 atanh s with s = (m − 1)/(m + 1),
///        |s| ≤ 0.1716, by 11 terms of atanh's series:
///        |y − log x| ≤ u(|y| + |b| + 4.2|log m|) + 1.3·10⁻²³ (b the fused sum below).
/// u = 2⁻⁵³ (unit roundoff), η = 2⁻¹⁰⁷⁴ (smallest subnormal).
public enum FastMath {
    static let unitRoundoff = 0x1p-53
    // exp's argument reduction (in `expKernel`): ln 2 = 0.6931471805599453 +
    // 2.3190468138462996e-17 + δ, |δ| < 6·10⁻³⁴; its result widened by 8u = 2⁻⁵⁰ relative,
    // above the proven 3.52u.
    /// ln 2 = ln2Head + ln2Low + δ, |δ| < 1.2·10⁻²⁶, with ln2Head's last 32 bits zero so
    /// e·ln2Head is exact for |e| < 2²¹ (log's reconstruction).
    static let ln2Head = 0.6931471803691238
    static let ln2Low = 1.9082149292705877e-10

    /// fl(1/i!), i = 0…13 (i! is exact in Double, the quotient correctly rounded).
    static let expCoefficients: [Double] = (0...13).map { i in 1 / (1...max(i, 1)).reduce(1.0) { $0 * Double($1) } }
    /// fl(1/(2j + 1)), j = 0…10.
    static let atanhCoefficients: [Double] = (0...10).map { 1 / Double(2 * $0 + 1) }

    /// exp(x) rounded to nearest-ish by the kernel, for −745.2 < x ≤ 709; its relative
    /// error is at most 3.52u, plus η absolute when the result is subnormal: the kernel in C
    /// (CFastKernels, the FMA instruction where the CPU has it; one call, where Swift's
    /// `addingProduct` is a C library call per step on CPUs it does not assume to have FMA).
    /// The same bits as `expKernelReference` on normal results (tested).
    @inline(__always)
    public static func expKernel(_ x: Double) -> Double { logitbounds_exp_kernel_scalar(x) }

    /// The kernel in Swift, the operations Proofs/certificates.md §2 proves. The Horner
    /// coefficients are the literals fl(1/i!) (`expCoefficients` computes them; a test
    /// checks they agree bit for bit), so the loop unrolls with no array access.
    public static func expKernelReference(_ x: Double) -> Double {
        let k = (x * 1.4426950408889634).rounded()
        var r = x.addingProduct(-k, 0.6931471805599453)
        r = r.addingProduct(-k, 2.3190468138462996e-17)
        var p = 0x1.6124613a86d09p-33
        p = (0x1.1eed8eff8d898p-29).addingProduct(p, r)
        p = (0x1.ae64567f544e4p-26).addingProduct(p, r)
        p = (0x1.27e4fb7789f5cp-22).addingProduct(p, r)
        p = (0x1.71de3a556c734p-19).addingProduct(p, r)
        p = (0x1.a01a01a01a01ap-16).addingProduct(p, r)
        p = (0x1.a01a01a01a01ap-13).addingProduct(p, r)
        p = (0x1.6c16c16c16c17p-10).addingProduct(p, r)
        p = (0x1.1111111111111p-7).addingProduct(p, r)
        p = (0x1.5555555555555p-5).addingProduct(p, r)
        p = (0x1.5555555555555p-3).addingProduct(p, r)
        p = (0.5).addingProduct(p, r)
        p = (1.0).addingProduct(p, r)
        p = (1.0).addingProduct(p, r)
        // p·2^k: exact for a normal result; 2^k built from its bits where p·2^k is surely
        // normal (p ≥ 0.7 > ½), else by `Double(sign:exponent:significand:)` (the same value).
        if k >= -1021 && k <= 1023 { return p * Double(bitPattern: UInt64(Int(k) + 1023) << 52) }
        return Double(sign: .plus, exponent: Int(k), significand: p)
    }

    /// out[i] = `expKernel(x[i])` for x[i] > −745, 0 below (e^x < η there), for x ≤ 709:
    /// the same kernel in C (CFastKernels), with the CPU's FMA instruction when it has one, and
    /// eight arguments at a time in AVX-512 or AVX2 vector instructions where all eight are in
    /// (−708, 709].
    public static func expKernel(_ x: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, count n: Int) {
        logitbounds_exp_kernel_array(x, out, n)
    }

    /// The same, one argument at a time (never in vector instructions): for tests.
    static func expKernelOneAtATime(_ x: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, count n: Int) {
        logitbounds_exp_kernel_array_one_at_a_time(x, out, n)
    }

    /// Whether `expKernel(_:into:count:)` runs on the FMA instruction here.
    public static var expKernelUsesFMAInstruction: Bool { logitbounds_exp_kernel_uses_fma_instruction() != 0 }

    /// Whether `expKernel(_:into:count:)` runs blocks of eight in vector instructions here.
    public static var expKernelUsesVectorInstructions: Bool { expKernelVectorWidth != 0 }

    /// The doubles per vector instruction of `expKernel(_:into:count:)`'s blocks: 8 (AVX-512),
    /// 4 (AVX2) or 0 (none).
    public static var expKernelVectorWidth: Int { Int(logitbounds_exp_kernel_uses_vector_instructions()) }

    /// The array kernel in vectors of `width` doubles (8, 4) where the CPU has them, else the
    /// next narrower (1: one argument at a time): for tests.
    static func expKernel(_ x: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>, count n: Int, vectorWidth width: Int) {
        logitbounds_exp_kernel_array_in_vectors_of(x, out, n, Int32(width))
    }

    /// Pass 1's values: each model's largest and least logit, Σc, Σ|c|, max c and min c.
    public typealias MidpointFirstPass = (m1: Double, n1: Double, m2: Double, n2: Double, sumC: Double, sumAbsC: Double, cMax: Double, cMin: Double)

    /// Pass 2's values: S₁, S₂, A₁, A₂, B₁, B₂, V and C.
    public typealias MidpointSecondPass = (s1: Double, s2: Double, a1: Double, a2: Double, b1: Double, b2: Double, vv: Double, cc: Double)

    /// Pass 1 of the streamed pass's midpoint row (CFastKernels; Proofs/certificates.md §5, "The
    /// row by midpoints") over k labels: each model's largest and least logit, and of
    /// c = RN(P₁ − P₂) the blocked Σc, Σ|c|, max c and min c. Every sum in blocks of 1 024 labels,
    /// each block in four running sums added in order at its end, the blocks' sums added in turn;
    /// in AVX2 vector instructions where the CPU has them unless `vectors` is false (the same bits).
    public static func midpointFirstPass(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, labels k: Int,
                                         vectors: Bool = true) -> MidpointFirstPass {
        let r = logitbounds_midpoint_first_pass(p1, p2, k, vectors ? 1 : 0)
        return (r.m1, r.n1, r.m2, r.n2, r.sum_c, r.sum_abs_c, r.c_max, r.c_min)
    }

    /// The labels per block of the midpoint passes' sums (the C kernels' own constant).
    public static let midpointBlock = logitbounds_midpoint_block()

    /// Pass 2, given t_s = exp(P_s − m_s) (nil: V and C alone, the others 0): the blocked
    /// S_s = Σt_s, A_s = Σt_s·c, B_s = Σt_s·|c|, V = Σv² with v = RN(c − mean), and C = Σc²,
    /// summed as pass 1 sums.
    public static func midpointSecondPass(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>,
                                          exponentials t: (UnsafePointer<Double>, UnsafePointer<Double>)?, labels k: Int, mean: Double,
                                          vectors: Bool = true) -> MidpointSecondPass {
        let r = logitbounds_midpoint_second_pass(p1, p2, t?.0, t?.1, k, mean, t == nil ? 0 : 1, vectors ? 1 : 0)
        return (r.s1, r.s2, r.a1, r.a2, r.b1, r.b2, r.vv, r.cc)
    }

    /// Pass 2 with its own exponentials, t_s = exp(RN(P_s − m_s)) by the array kernel, formed a
    /// block of labels at a time (CFastKernels): the bits of `expKernel` on the shifted rows
    /// followed by `midpointSecondPass`, without writing the k arguments and exponentials out
    /// and reading them back. `vectorWidth` 8 runs AVX-512 where the CPU has it, 4 AVX2, 0
    /// neither (the same bits: tests compare them).
    public static func midpointExponentialPass(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, shifts m: (Double, Double),
                                               labels k: Int, mean: Double, vectorWidth: Int = 8) -> MidpointSecondPass {
        let r = logitbounds_midpoint_exponential_pass(p1, p2, m.0, m.1, k, mean, Int32(vectorWidth))
        return (r.s1, r.s2, r.a1, r.a2, r.b1, r.b2, r.vv, r.cc)
    }

    /// Each row's Euclidean norm bounded above (CFastKernels, Proofs/certificates.md §5, "Logits
    /// by norms"): M·√(Σ q²) with M the row's largest magnitude and q ≥ |x|/M, every operation
    /// pushed one Double up, so rows near either end of the Double range neither overflow nor
    /// lose their scale; 0 for a zero row, +∞ for a row holding ±∞, NaN for one holding NaN.
    /// Eight running sums, in AVX2 vector instructions where the CPU has them (the same bits).
    public static func rowNormUpperBounds(_ m: Matrix) -> [Double] {
        rowNormUpperBounds(m, logitbounds_row_norm_upper_bounds)
    }

    /// The same without vector instructions: for tests.
    static func rowNormUpperBoundsWithoutVectors(_ m: Matrix) -> [Double] {
        rowNormUpperBounds(m, logitbounds_row_norm_upper_bounds_without_vectors)
    }

    private static func rowNormUpperBounds(_ m: Matrix, _ kernel: (UnsafePointer<Double>?, Int, Int, UnsafeMutablePointer<Double>?) -> Void) -> [Double] {
        guard m.rows > 0 else { return [] }
        guard m.columns > 0 else { return Array(repeating: 0, count: m.rows) }
        return [Double](unsafeUninitializedCapacity: m.rows) { out, count in
            m.storage.withUnsafeBufferPointer { kernel($0.baseAddress, m.rows, m.columns, out.baseAddress) }
            count = m.rows
        }
    }

    /// A guaranteed lower bound of eˣ.
    public static func expLower(_ x: Double) -> Double {
        if x.isNaN || x <= -745.2 { return 0 }
        if x > 709 { return expLower(709) }
        let y = expKernel(x)
        let lower = (y * (1 - 0x1p-50)).nextDown
        return y < 0x1p-1020 ? Swift.max(0, lower - .leastNonzeroMagnitude) : lower
    }

    /// A guaranteed upper bound of eˣ.
    public static func expUpper(_ x: Double) -> Double {
        if x.isNaN || x > 709 { return .infinity }
        if x <= -745.2 { return .leastNonzeroMagnitude }   // e^−745.2 < η
        let y = expKernel(x)
        let upper = (y * (1 + 0x1p-50)).nextUp
        return y < 0x1p-1020 ? (upper + .leastNonzeroMagnitude).nextUp : upper
    }

    /// Guaranteed bounds of e^t for every t in [lo, hi] from one kernel call at the
    /// midpoint c (Proofs/certificates.md §2, "One call for an interval"): with r ≥ the
    /// radius, e^c·e^{−r} ≥ e^c(1 − r) and e^c·e^r ≤ e^c(1 + 2r) for r ≤ ½. Wider
    /// intervals, and ends outside the kernel's range, take the two-call bounds.
    @inline(__always)
    public static func expEnclosure(_ lo: Double, _ hi: Double) -> (lo: Double, hi: Double) {
        let c = lo / 2 + hi / 2
        let r = Swift.max(hi - c, c - lo).nextUp
        guard r <= 0.5, lo > -740, hi < 708 else { return (expLower(lo), expUpper(hi)) }
        let y = expKernel(c)
        guard y >= 0x1p-1020 else { return (expLower(lo), expUpper(hi)) }
        let lower = ((y * (1 - 0x1p-50)).nextDown * (1 - r).nextDown).nextDown
        let upper = ((y * (1 + 0x1p-50)).nextUp * (1 + 2 * r).nextUp).nextUp
        return (lower, upper)
    }

    /// log x for finite x > 0 and the bound on its error: the kernel in C (CFastKernels, one
    /// call, the FMA instruction where the CPU has it), the bits of `logKernelReference` (tested).
    @inline(__always)
    static func logKernel(_ x: Double) -> (value: Double, error: Double) {
        var error = 0.0
        let y = logitbounds_log_kernel(x, &error)
        return (y, error)
    }

    /// The kernel in Swift, the operations Proofs/certificates.md §3 proves.
    static func logKernelReference(_ x: Double) -> (value: Double, error: Double) {
        var e = Double(x.exponent)
        var m = x.significand
        if m > 1.4142135623730951 { m *= 0.5; e += 1 }
        let s = (m - 1) / (m + 1)          // m − 1 is exact (Sterbenz)
        let z = s * s
        let c = atanhCoefficients
        var q = c[10]
        for j in stride(from: 9, through: 0, by: -1) { q = c[j].addingProduct(q, z) }
        let logM = 2 * (s * q)
        let b = logM.addingProduct(e, ln2Low)
        let y = e * ln2Head + b            // e·ln2Head is exact
        let error = (unitRoundoff * 1.001 * (abs(y) + abs(b) + 4.2 * abs(logM)) + 1.3e-23).nextUp
        return (y, error)
    }

    /// A guaranteed lower bound of log x (−∞ for x ≤ 0 or NaN).
    public static func logLower(_ x: Double) -> Double {
        guard x > 0 else { return -.infinity }
        if x == .infinity { return 709.78 }   // below log of the largest finite Double
        let (y, error) = logKernel(x)
        return (y - error).nextDown
    }

    /// A guaranteed upper bound of log x (+∞ for x = +∞ or NaN, −∞ for x ≤ 0).
    public static func logUpper(_ x: Double) -> Double {
        if x.isNaN || x == .infinity { return .infinity }
        guard x > 0 else { return -.infinity }
        let (y, error) = logKernel(x)
        return (y + error).nextUp
    }

    /// γₙ/(1 − γₙ) rounded up, γₙ = nu/(1 − nu): the a priori factor of a sum of n
    /// products (Proofs/certificates.md §4); +∞ when nu ≥ 0.01.
    public static func productErrorFactor(_ n: Int) -> Double {
        let nu = Double(n) * unitRoundoff
        guard nu < 0.01 else { return .infinity }
        let gamma = nu / (1 - nu)
        return (plantedProductBoundScale * gamma / (1 - gamma) * (1 + 1e-12)).nextUp
    }

    /// 1, unless the environment variable LOGITBOUNDS_PLANT_PRODUCT_BOUND plants a wrong
    /// product bound (e.g. 0.5, the bound halved) to show that `bench --target
    /// enclosures` catches it. A test hook: never set it for a real run.
    static let plantedProductBoundScale: Double = {
        guard let text = ProcessInfo.processInfo.environment["LOGITBOUNDS_PLANT_PRODUCT_BOUND"], let s = Double(text), s > 0 else { return 1 }
        return s
    }()
}
