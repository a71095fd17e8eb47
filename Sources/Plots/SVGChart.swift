import Foundation

/// An x–y chart with linear or logarithmic axes: scatter series, line series
/// (reference curves) and a legend. Points that cannot be drawn on a log axis
/// (≤ 0, NaN, ±∞) are dropped and counted in the caption.
public struct SVGChart {
    public enum Axis: Sendable { case linear, log }
    public enum Mark: Sendable { case points, line, dashedLine, lineWithPoints }

    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var mark: Mark
        public var colour: String

        public init(_ name: String, _ points: [(x: Double, y: Double)], mark: Mark = .points, colour: Int) {
            self.name = name; self.points = points; self.mark = mark; self.colour = SVGFigure.colour(colour)
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xAxis: Axis
    public var yAxis: Axis
    public var series: [Series]
    /// Points with x outside these limits are left out (and counted in the caption).
    public var xLimits: (Double, Double)?
    /// Shaded x-ranges across the plot's height, each labelled (e.g. where a bound is
    /// vacuous); ±∞ reach the plot's edge.
    public var bands: [(from: Double, to: Double, label: String)] = []

    public init(title: String, xLabel: String, yLabel: String, xAxis: Axis = .linear, yAxis: Axis = .linear,
                series: [Series], xLimits: (Double, Double)? = nil) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.xAxis = xAxis; self.yAxis = yAxis; self.series = series; self.xLimits = xLimits
    }

    /// The value on the drawn scale (log10 on a log axis), nil when not drawable.
    static func coordinate(_ v: Double, _ axis: Axis) -> Double? {
        guard v.isFinite else { return nil }
        switch axis {
        case .linear: return v
        case .log: return v > 0 ? v.log10 : nil
        }
    }

    /// Tick positions on the drawn scale and their labels.
    static func ticks(_ lo: Double, _ hi: Double, _ axis: Axis) -> [(Double, String)] {
        guard lo.isFinite, hi.isFinite, lo <= hi else { return [] }
        switch axis {
        case .log:
            let a = lo.rounded(.down), b = hi.rounded(.up)
            let step = max(1, ((b - a) / 8).rounded(.up))
            return stride(from: a, through: b, by: step).map { ($0, "1e\(Int($0))") }
        case .linear:
            let span = max(hi - lo, 1e-300)
            let raw = span / 6, magnitude = SVGFigure.pow10(raw.log10.rounded(.down))
            let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
            let first = (lo / step).rounded(.up) * step
            return stride(from: first, through: hi + step * 1e-9, by: step).map { ($0, Self.label($0, step: step)) }
        }
    }

    /// A tick label with as many decimals as the step needs (0.995 and 1 on an axis from
    /// 0.99 to 1, not "1" and "1"); scientific notation for very large or small values.
    static func label(_ v: Double, step: Double) -> String {
        if abs(v) < step * 1e-9 { return "0" }
        if abs(v) >= 1e4 || abs(v) < 1e-3 { return label(v) }
        let decimals = max(0, Int((-step.log10 - 1e-9).rounded(.up)))
        return String(format: "%.\(min(decimals, 12))f", v)
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e4 || abs(v) < 1e-3 {
            let e = abs(v).log10.rounded(.down)
            return "\(SVGFigure.fmt(v / SVGFigure.pow10(e)))e\(Int(e))"
        }
        return SVGFigure.fmt(v) == "0" ? String(v) : SVGFigure.fmt(v)
    }

    public func render() -> String {
        let width = 860.0, height = 480.0, left = 90.0, top = 50.0, plotW = 470.0, plotH = 340.0
        var dropped = 0
        let drawn: [[(Double, Double)]] = series.map { s in
            s.points.compactMap { p in
                let inside = xLimits.map { p.x >= $0.0 && p.x <= $0.1 } ?? true
                guard inside, let x = Self.coordinate(p.x, xAxis), let y = Self.coordinate(p.y, yAxis) else {
                    dropped += 1; return nil
                }
                return (x, y)
            }
        }
        let xs = drawn.flatMap { $0.map(\.0) }, ys = drawn.flatMap { $0.map(\.1) }
        func range(_ v: [Double]) -> (Double, Double) {
            guard let lo = v.min(), let hi = v.max() else { return (0, 1) }
            if hi - lo < 1e-12 * max(1, abs(hi)) { return (lo - 0.5, hi + 0.5) }
            let pad = (hi - lo) * 0.04
            return (lo - pad, hi + pad)
        }
        var (x0, x1) = range(xs), (y0, y1) = range(ys)
        if xAxis == .log { (x0, x1) = (min(x0, x0.rounded(.down)), max(x1, x1.rounded(.up))) }
        if yAxis == .log { (y0, y1) = (min(y0, y0.rounded(.down)), max(y1, y1.rounded(.up))) }
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * plotW }
        func py(_ v: Double) -> Double { top + plotH - (v - y0) / (y1 - y0) * plotH }
        var body = [SVGFigure.header(width, height), SVGFigure.text(width / 2, 26, title, size: 15, anchor: "middle"),
                    "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#999\"/>"]
        for band in bands {
            let lo = band.from == -.infinity ? x0 : Self.coordinate(band.from, xAxis).map { max($0, x0) } ?? x0
            let hi = band.to == .infinity ? x1 : Self.coordinate(band.to, xAxis).map { min($0, x1) } ?? x1
            guard hi > lo else { continue }
            body.append("<rect class=\"band\" x=\"\(SVGFigure.fmt(px(lo)))\" y=\"\(top)\" width=\"\(SVGFigure.fmt(px(hi) - px(lo)))\" height=\"\(plotH)\" fill=\"#bbb\" fill-opacity=\"0.25\"/>")
        }
        for (v, name) in Self.ticks(y0, y1, yAxis) where v >= y0 && v <= y1 {
            body.append("<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(SVGFigure.fmt(py(v)))\" y2=\"\(SVGFigure.fmt(py(v)))\" stroke=\"#eee\"/>")
            body.append(SVGFigure.text(left - 6, py(v) + 4, name, size: 11, anchor: "end"))
        }
        for (v, name) in Self.ticks(x0, x1, xAxis) where v >= x0 && v <= x1 {
            body.append("<line x1=\"\(SVGFigure.fmt(px(v)))\" x2=\"\(SVGFigure.fmt(px(v)))\" y1=\"\(top)\" y2=\"\(top + plotH)\" stroke=\"#eee\"/>")
            body.append(SVGFigure.text(px(v), top + plotH + 16, name, size: 11, anchor: "middle"))
        }
        body.append(SVGFigure.text(left + plotW / 2, top + plotH + 38, xLabel + (xAxis == .log ? " (log scale)" : ""),
                                   size: 13, anchor: "middle"))
        body.append("<text x=\"18\" y=\"\(SVGFigure.fmt(top + plotH / 2))\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(SVGFigure.fmt(top + plotH / 2)))\">\(Self.escape(yLabel + (yAxis == .log ? " (log scale)" : "")))</text>")
        for (s, points) in zip(series, drawn) {
            switch s.mark {
            case .points:
                for p in points {
                    body.append("<circle class=\"datum\" cx=\"\(SVGFigure.fmt(px(p.0)))\" cy=\"\(SVGFigure.fmt(py(p.1)))\" r=\"\(points.count <= 3 ? 6 : 3)\" fill=\"\(s.colour)\" fill-opacity=\"0.6\"/>")
                }
            case .line, .dashedLine, .lineWithPoints:
                let path = points.sorted { $0.0 < $1.0 }.map { "\(SVGFigure.fmt(px($0.0))),\(SVGFigure.fmt(py($0.1)))" }
                let dash = s.mark == .dashedLine ? " stroke-dasharray=\"6 4\"" : ""
                body.append("<polyline class=\"curve\" fill=\"none\" stroke=\"\(s.colour)\" stroke-width=\"2\"\(dash) points=\"\(path.joined(separator: " "))\"/>")
                if s.mark == .lineWithPoints {
                    for p in points {
                        body.append("<circle class=\"datum\" cx=\"\(SVGFigure.fmt(px(p.0)))\" cy=\"\(SVGFigure.fmt(py(p.1)))\" r=\"4\" fill=\"\(s.colour)\"/>")
                    }
                }
            }
        }
        for (i, s) in series.enumerated() {
            let y = top + 10 + Double(i) * 22
            body.append("<rect x=\"\(left + plotW + 18)\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"\(s.colour)\"/>")
            body.append(SVGFigure.text(left + plotW + 36, y + 11, s.name, size: 12, anchor: "start"))
        }
        // The bands' labels in the legend (in the plot they would cover the data).
        for (i, band) in Set(bands.map(\.label)).sorted().enumerated() {
            let y = top + 10 + Double(series.count + i) * 22
            body.append("<rect x=\"\(left + plotW + 18)\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"#bbb\" fill-opacity=\"0.5\"/>")
            body.append(SVGFigure.text(left + plotW + 36, y + 11, band, size: 12, anchor: "start"))
        }
        if dropped > 0 {
            body.append(SVGFigure.text(left, height - 12, "\(dropped) point(s) outside the x range or not drawable on a log axis (≤ 0, not finite) left out",
                                       size: 11, anchor: "start"))
        }
        return (body + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
