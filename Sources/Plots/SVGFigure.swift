import Numerics

/// Small, dependency-free SVG figures for the reports.
public enum SVGFigure {
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf"]

    public static func colour(_ label: Int) -> String { palette[label % palette.count] }

    /// Two panels (teacher, student): inputs as circles coloured by class, unembeddings
    /// as squares coloured by label, each set scaled to fill the panel (their norms
    /// differ by the margin). d > 2 is shown on each model's first two principal
    /// coordinates of the inputs (unembeddings projected on the same axes). One mark per point.
    public static func embeddings(teacher: (f: Matrix, g: Matrix), student: (f: Matrix, g: Matrix), inputLabels: [Int],
                                  title: String) throws -> String {
        let width = 900.0, height = 470.0, panel = 400.0
        var body = [header(width, height), text(width / 2, 24, title, size: 16, anchor: "middle")]
        for (index, model) in [("teacher", teacher), ("student", student)].enumerated() {
            let (f, g) = try planar(model.1.f, model.1.g)
            func extent(_ points: [(Double, Double)]) -> Double {
                max(points.map { max(abs($0.0), abs($0.1)) }.max() ?? 1, 1e-12) * 1.08
            }
            let inputExtent = extent(f), labelExtent = extent(g)
            let left = 40.0 + Double(index) * (panel + 60), top = 50.0
            func x(_ v: Double, _ e: Double) -> Double { left + panel / 2 + v / e * panel / 2 }
            func y(_ v: Double, _ e: Double) -> Double { top + panel / 2 - v / e * panel / 2 }
            body.append("<rect x=\"\(left)\" y=\"\(top)\" width=\"\(panel)\" height=\"\(panel)\" fill=\"none\" stroke=\"#999\"/>")
            body.append(text(left + panel / 2, top - 6, "\(model.0): inputs ● and unembeddings ■, each scaled to fit", size: 12, anchor: "middle"))
            for (i, point) in f.enumerated() {
                body.append("<circle class=\"input\" cx=\"\(fmt(x(point.0, inputExtent)))\" cy=\"\(fmt(y(point.1, inputExtent)))\" r=\"3\" fill=\"\(colour(inputLabels[i]))\" fill-opacity=\"0.7\"/>")
            }
            for (label, point) in g.enumerated() {
                body.append("<rect class=\"unembedding\" x=\"\(fmt(x(point.0, labelExtent) - 5))\" y=\"\(fmt(y(point.1, labelExtent) - 5))\" width=\"10\" height=\"10\" fill=\"\(colour(label))\" stroke=\"black\"/>")
                body.append(text(x(point.0, labelExtent) + 8, y(point.1, labelExtent) - 6, "\(label)", size: 10, anchor: "start"))
            }
        }
        return (body + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    /// Series against a parameter, y on a log axis; one circle per data point.
    public static func sweep(parameter name: String, values: [Double], series: [(name: String, values: [Double])],
                             title: String) -> String {
        let width = 720.0, height = 460.0, left = 80.0, top = 50.0, plotW = 480.0, plotH = 340.0
        let positives = series.flatMap(\.values).filter { $0 > 0 && $0.isFinite }
        let lo = (positives.min() ?? 1e-12).log10.rounded(.down), hi = (positives.max() ?? 1).log10.rounded(.up)
        let xmin = values.min() ?? 0, xmax = max(values.max() ?? 1, xmin + 1e-12)
        func x(_ v: Double) -> Double { left + (v - xmin) / (xmax - xmin) * plotW }
        func y(_ v: Double) -> Double { top + plotH - (max(v, 1e-300).log10 - lo) / max(hi - lo, 1) * plotH }
        var body = [header(width, height), text(width / 2, 24, title, size: 16, anchor: "middle"),
                    "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#999\"/>"]
        for e in stride(from: lo, through: hi, by: max(1, ((hi - lo) / 8).rounded(.up))) {
            body.append("<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(fmt(y(pow10(e))))\" y2=\"\(fmt(y(pow10(e))))\" stroke=\"#eee\"/>")
            body.append(text(left - 6, y(pow10(e)) + 4, "1e\(Int(e))", size: 11, anchor: "end"))
        }
        for v in values { body.append(text(x(v), top + plotH + 16, fmt(v), size: 11, anchor: "middle")) }
        body.append(text(left + plotW / 2, top + plotH + 36, name, size: 13, anchor: "middle"))
        for (s, line) in series.enumerated() {
            let points = zip(values, line.values).filter { $0.1 > 0 && $0.1.isFinite }
            body.append("<polyline fill=\"none\" stroke=\"\(colour(s))\" stroke-width=\"\(2 + 2 * (series.count - 1 - s))\" stroke-opacity=\"0.8\" points=\"\(points.map { "\(fmt(x($0.0))),\(fmt(y($0.1)))" }.joined(separator: " "))\"/>")
            for p in points {
                body.append("<circle class=\"datum\" cx=\"\(fmt(x(p.0)))\" cy=\"\(fmt(y(p.1)))\" r=\"3.5\" fill=\"\(colour(s))\"/>")
            }
            body.append("<rect x=\"\(left + plotW + 20)\" y=\"\(top + 10 + Double(s) * 22)\" width=\"12\" height=\"12\" fill=\"\(colour(s))\"/>")
            body.append(text(left + plotW + 38, top + 21 + Double(s) * 22, line.name, size: 12, anchor: "start"))
        }
        return (body + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    public static func header(_ w: Double, _ h: Double) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    }

    public static func text(_ x: Double, _ y: Double, _ s: String, size: Int, anchor: String) -> String {
        let escaped = SVGChart.escape(s)
        return "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\">\(escaped)</text>"
    }

    public static func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    public static func pow10(_ e: Double) -> Double { (e * Double.ln10).exp }

    /// Inputs and unembeddings as 2-D points on the same axes: the coordinates
    /// themselves for d ≤ 2, else the first two principal axes of the centred inputs,
    /// onto which the (centred) unembeddings are projected too, so a label's square
    /// sits on the side of its inputs.
    static func planar(_ f: Matrix, _ g: Matrix) throws -> (f: [(Double, Double)], g: [(Double, Double)]) {
        func direct(_ m: Matrix) -> [(Double, Double)] {
            m.columns == 1 ? (0..<m.rows).map { (m[$0, 0], 0) } : (0..<m.rows).map { (m[$0, 0], m[$0, 1]) }
        }
        if f.columns <= 2 { return (direct(f), direct(g)) }
        let cf = f.subtractingColumnMeans, cg = g.subtractingColumnMeans
        let v = try SingularValueDecomposition(cf).v
        func project(_ m: Matrix) -> [(Double, Double)] { Array(zip(m.applied(to: v.column(0)), m.applied(to: v.column(1)))) }
        return (project(cf), project(cg))
    }
}

extension Double {
    public var log10: Double { self.log / Double.ln10 }
}
