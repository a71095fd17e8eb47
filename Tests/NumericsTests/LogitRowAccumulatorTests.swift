import Foundation
import Testing
@testable import Numerics

@Suite("The screen's logit-row accumulator")
struct LogitRowAccumulatorTests {
    /// The accumulator runs in C (CFastKernels' `logitbounds_screen_row_add`, AVX-512 or AVX2 where
    /// the CPU has them). Its sums must be, bit for bit, those of the Swift SIMD4 code it replaced
    /// (kept here as the reference, with `exponentialOfNonPositive`), at every vector width the
    /// CPU has (8 forms eight labels' terms at once, 4 four, 0 none): rows of 1 to 5 003
    /// labels in blocks of 1 to 10 000 (tails of 1–3 lanes, maxima raised by later blocks, so the
    /// rescaling runs), logits from 0.1 to 1 000 in size (arguments below −708 flushed to 0).
    @Test("The C accumulator gives the Swift reference's bits at every vector width")
    func accumulatorMatchesItsReference() {
        struct Reference {
            var maxA = -Double.infinity, sumA = 0.0, crossA = 0.0, magnitudeA = 0.0
            var maxB = -Double.infinity, sumB = 0.0, crossB = 0.0, magnitudeB = 0.0
            var minA = Double.infinity, minB = Double.infinity, squares = 0.0
            mutating func add(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) {
                let (a, b) = (Array(a), Array(b)), n = a.count
                (minA, minB) = (Swift.min(minA, a.min()!), Swift.min(minB, b.min()!))
                let newMaxA = Swift.max(maxA, a.max()!), newMaxB = Swift.max(maxB, b.max()!)
                if sumA > 0 && (newMaxA != maxA || newMaxB != maxB) {
                    let shift = (newMaxB - maxB) - (newMaxA - maxA)
                    let scaleA = Foundation.exp(maxA - newMaxA), scaleB = Foundation.exp(maxB - newMaxB)
                    crossA = scaleA * (crossA + sumA * shift); magnitudeA = scaleA * (magnitudeA + sumA * Swift.abs(shift))
                    crossB = scaleB * (crossB - sumB * shift); magnitudeB = scaleB * (magnitudeB + sumB * Swift.abs(shift))
                    sumA *= scaleA; sumB *= scaleB
                }
                (maxA, maxB) = (newMaxA, newMaxB)
                typealias V = SIMD4<Double>
                var sA = V(), cA = V(), mA = V(), sB = V(), cB = V(), mB = V(), sq = V()
                let ma = V(repeating: maxA), mb = V(repeating: maxB)
                for y in stride(from: 0, to: n, by: 4) {
                    var x = ma, z = mb, live = V()
                    for lane in 0..<Swift.min(4, n - y) { x[lane] = a[y + lane]; z[lane] = b[y + lane]; live[lane] = 1 }
                    let difference = x - z, xc = x - ma, zc = z - mb, delta = xc - zc
                    let magnitude = V(delta.indices.map { Swift.abs(delta[$0]) })
                    let ea = exponentialOfNonPositive(xc) * live, eb = exponentialOfNonPositive(zc) * live
                    sA += ea; cA += ea * delta; mA += ea * magnitude
                    sB += eb; cB -= eb * delta; mB += eb * magnitude
                    sq += difference * difference * live
                }
                func total(_ v: V) -> Double { ((v[0] + v[1]) + v[2]) + v[3] }
                sumA += total(sA); crossA += total(cA); magnitudeA += total(mA)
                sumB += total(sB); crossB += total(cB); magnitudeB += total(mB)
                squares += total(sq)
            }
            var values: [Double] { [maxA, sumA, crossA, magnitudeA, maxB, sumB, crossB, magnitudeB, minA, minB, squares] }
        }
        // The widths this CPU runs (the exp kernel's dispatch reads the same CPU features).
        let widths = [0, 4, 8].filter { $0 <= FastMath.expKernelVectorWidth }
        var g = SeededGenerator(seed: 3)
        var compared = 0
        for trial in 0..<400 {
            let k = [1, 2, 3, 4, 5, 7, 64, 1000, 1023, 5003][trial % 10], scale = [0.1, 1, 10, 300, 1000][trial % 5]
            let a = (0..<k).map { _ in g.uniform(in: -1...1) * scale }
            let b = (0..<k).map { _ in g.uniform(in: -1...1) * scale + (trial % 3 == 0 ? 5 : 0) }
            let block = [1, 3, 4, 17, 256, 10_000][trial % 6]
            var accumulators = [LogitRowAccumulator](repeating: LogitRowAccumulator(), count: widths.count), reference = Reference()
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for start in stride(from: 0, to: k, by: block) {
                        let rows = start..<Swift.min(k, start + block)
                        let (x, y) = (UnsafeBufferPointer(rebasing: pa[rows]), UnsafeBufferPointer(rebasing: pb[rows]))
                        for (i, width) in widths.enumerated() { accumulators[i].add(x, y, vectorWidth: width) }
                        reference.add(a[rows], b[rows])
                    }
                }
            }
            func values(_ s: LogitRowAccumulator) -> [Double] {
                [s.maxA, s.sumA, s.crossA, s.magnitudeA, s.maxB, s.sumB, s.crossB, s.magnitudeB, s.minA, s.minB, s.squares]
            }
            for (accumulator, width) in zip(accumulators, widths) {
                #expect(values(accumulator).map(\.bitPattern) == reference.values.map(\.bitPattern),
                        "trial \(trial), width \(width): C \(values(accumulator)) against \(reference.values)")
                compared += 1
            }
        }
        #expect(compared == 400 * widths.count)
    }

    /// A row from a review (logits near ±400 against ±30): p has a label at log p = −743.2,
    /// just above the underflow, where q/p = e^726; p·φ(u) was a subnormal times ∞, and the
    /// flagged direction, recomputed by the cancellation-free kernel, came out ∞ (NaN once summed).
    @Test("The cancellation-free kernel where e^u overflows beside a nearly underflowing p: finite and accurate (mpmath at 400 bits)")
    func kernelBesideUnderflow() throws {
        let l1 = [15.59374321920881, 30.64180067023402, -11.519304514000833, 13.772906406957215, 14.189050285579517, 5.1060563883836,
                  -17.265840292489465, -19.059035057725744, -23.14802171890956, -8.31135538723757]
        let l2 = [53.643207386741494, 391.93631050333454, 22.38903348039227, -351.22111492879003, 279.6061630791596, 190.26049004541886,
                  -74.84390330295777, -403.51012830827307, 73.58690520686069, -181.84696316188658]
        // KL(q‖p) and KL(p‖q), p from l1 and q from l2, by mpmath at 400 bits.
        let (reverse, forward) = (4.10314588136658921e-7, 1.3497375675269998491e-4)
        let statistics = l1.withUnsafeBufferPointer { a in l2.withUnsafeBufferPointer { b in logitRowStatistics(a, b) } }
        #expect(abs(klDivergence(logitsP: l2, logitsQ: l1) - reverse) <= 1e-12 * reverse)
        #expect(abs(klDivergence(logitsP: l1, logitsQ: l2) - forward) <= 1e-12 * forward)
        #expect(abs(statistics.klBA - reverse) <= 1e-12 * reverse && abs(statistics.klAB - forward) <= 1e-12 * forward, "\(statistics)")
        // Two labels, log p₂ ≈ L between −745 and −708, where p₂ is subnormal (a few bits): KL(p‖q)
        // with q's second logit L + 699, by mpmath at 400 bits (p₂·φ(u) was 73 % off at L = −744.99).
        var compared = 0
        for (logit, expected) in [(-744.99, 1.0636451821496571774e-20), (-744.0, 2.8625185805493936444e-20), (-742.0, 2.1151310375910804864e-19)] {
            let kl = klDivergence(logitsP: [0, logit], logitsQ: [0, logit + 699])
            #expect(abs(kl - expected) <= 1e-12 * expected, "L = \(logit): \(kl) against \(expected)")
            compared += 1
        }
        #expect(compared == 3)
    }

    /// A softmax saturated on three equal labels (p = 1/3 each, and p₄ = e⁻²⁰⁰/(3 + e⁻²⁰⁰)) whose
    /// second row differs only on the unlikely label: D = (c, c, c, c + δ). KL(p‖q) = p₄φ(δ) + O(p₄²),
    /// φ(δ) = e^δ − 1 − δ. Σp_yD_y (three thirds of c) had rounded to c with an error near ulp(c),
    /// whose square (10⁻³³) stood for a KL of 10⁻⁸⁸; D relative to the likely label's is exactly 0.
    @Test("KL from a given difference, constant on every label p weighs: p₄φ(δ) within 10⁻¹², for several constants c")
    func constantDifferenceOnLikelyLabels() {
        var compared = 0
        for c in [0.3, -7.1, 1e-17, 123.456] {
            for (gap, delta) in [(200.0, 0.5), (100.0, -2.0), (40.0, 3.0)] {
                let a = [0.0, 0.0, 0.0, -gap]
                let d = [c, c, c, c + delta]
                let p2 = exp(-gap) / (3 + exp(-gap))
                let expected = p2 * (exp(delta) - 1 - delta)
                let kl = klDivergence(logitsP: a, difference: d)
                #expect(abs(kl - expected) <= 1e-12 * expected + 4 * p2 * p2 * exp(2 * abs(delta)), "c = \(c), gap \(gap): \(kl) against \(expected)")
                compared += 1
            }
        }
        #expect(compared == 12)
    }
}
