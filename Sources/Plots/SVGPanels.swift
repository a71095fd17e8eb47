import Foundation

/// Figures made of side-by-side panels sharing one y axis: every data point drawn (one
/// mark per seed), series coloured by a fixed index so that one objective has one colour
/// in every figure of a report, and no colour repeats within a panel.
public enum SVGPanels {
    /// One panel per stage; in each, a column per group (student width), inside it one
    /// column of dots per series (objective): each value (seed) a dot, the mean a tick.
    /// `values[panel][group][series]` are the seeds' values (empty where the stage was not
    /// reached). `colours[series]` indexes `SVGFigure.palette`.
    public static func strips(title: String, yLabel: String, panels: [String], groups: [String], series: [String],
                              colours: [Int], values: [[[[Double]]]], logScale: Bool = false, note: String? = nil) -> String {
        let panelWidth = max(180.0, Double(groups.count * series.count) * 16 + 40), height = 420.0
        let left = 70.0, top = 60.0, plotHeight = 280.0
        let width = left + Double(panels.count) * (panelWidth + 20) + 180
        let all = values.flatMap { $0.flatMap { $0.flatMap { $0 } } }.filter { $0.isFinite && (!logScale || $0 > 0) }
        // Nothing to draw (no student of a narrower width: no T12 ratio; an interrupted run): the
        // axis spans 0…1 on the drawn scale (the logarithm of no value had made the ticks endless).
        var (lo, hi) = (all.min() ?? 0, all.max() ?? 1)
        if logScale { (lo, hi) = all.isEmpty ? (0, 1) : (lo.log10.rounded(.down), hi.log10.rounded(.up)) }
        if hi - lo < 1e-12 { (lo, hi) = (lo - 0.5, hi + 0.5) }
        let pad = logScale ? 0 : (hi - lo) * 0.06
        (lo, hi) = (lo - pad, hi + pad)
        func y(_ v: Double) -> Double { top + plotHeight * (1 - ((logScale ? v.log10 : v) - lo) / (hi - lo)) }
        var body = [SVGFigure.header(width, height), SVGFigure.text(width / 2, 24, title, size: 15, anchor: "middle")]
        // The shared y axis and its grid.
        for (position, label) in ticks(lo, hi, logScale ? .log : .linear) {
            let yy = top + plotHeight * (1 - (position - lo) / (hi - lo))
            body.append("<line x1=\"\(left)\" y1=\"\(SVGFigure.fmt(yy))\" x2=\"\(SVGFigure.fmt(width - 180))\" y2=\"\(SVGFigure.fmt(yy))\" stroke=\"#eee\"/>")
            body.append(SVGFigure.text(left - 6, yy + 4, label, size: 11, anchor: "end"))
        }
        body.append("<text x=\"18\" y=\"\(top + plotHeight / 2)\" font-size=\"12\" transform=\"rotate(-90 18 \(top + plotHeight / 2))\" text-anchor=\"middle\">\(SVGChart.escape(yLabel))\(logScale ? " (log scale)" : "")</text>")
        var drawn = 0
        for (p, panel) in panels.enumerated() {
            let x0 = left + Double(p) * (panelWidth + 20)
            body.append("<rect x=\"\(SVGFigure.fmt(x0))\" y=\"\(top)\" width=\"\(SVGFigure.fmt(panelWidth))\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#999\"/>")
            body.append(SVGFigure.text(x0 + panelWidth / 2, top - 8, panel, size: 12, anchor: "middle"))
            // No drawable value (a log scale draws none ≤ 0).
            if p >= values.count || values[p].allSatisfy({ $0.allSatisfy { $0.allSatisfy { !$0.isFinite || (logScale && $0 <= 0) } } }) {
                body.append(SVGFigure.text(x0 + panelWidth / 2, top + plotHeight / 2, "no value at this stage", size: 11, anchor: "middle"))
            }
            let groupWidth = panelWidth / Double(max(groups.count, 1))
            for (g, group) in groups.enumerated() {
                let gx = x0 + groupWidth * Double(g)
                body.append(SVGFigure.text(gx + groupWidth / 2, top + plotHeight + 16, group, size: 11, anchor: "middle"))
                for (s, _) in series.enumerated() {
                    let points = (p < values.count && g < values[p].count && s < values[p][g].count ? values[p][g][s] : [])
                        .filter { $0.isFinite && (!logScale || $0 > 0) }
                    let sx = gx + groupWidth * (Double(s) + 0.5) / Double(series.count + 1) + groupWidth * 0.5 / Double(series.count + 1)
                    let colour = SVGFigure.colour(colours[s])
                    for (i, v) in points.enumerated() {
                        let jitter = (Double(i) - Double(points.count - 1) / 2) * 2.5
                        body.append("<circle class=\"point\" cx=\"\(SVGFigure.fmt(sx + jitter))\" cy=\"\(SVGFigure.fmt(y(v)))\" r=\"3.2\" fill=\"\(colour)\" fill-opacity=\"0.85\"/>")
                        drawn += 1
                    }
                    if !points.isEmpty {
                        let mean = points.reduce(0, +) / Double(points.count)
                        body.append("<line class=\"mean\" x1=\"\(SVGFigure.fmt(sx - 6))\" y1=\"\(SVGFigure.fmt(y(mean)))\" x2=\"\(SVGFigure.fmt(sx + 6))\" y2=\"\(SVGFigure.fmt(y(mean)))\" stroke=\"\(colour)\" stroke-width=\"2.5\"/>")
                    }
                }
            }
        }
        for (s, name) in series.enumerated() {
            let ly = top + 10 + Double(s) * 20
            body.append("<rect x=\"\(SVGFigure.fmt(width - 170))\" y=\"\(SVGFigure.fmt(ly - 9))\" width=\"12\" height=\"12\" fill=\"\(SVGFigure.colour(colours[s]))\"/>")
            body.append(SVGFigure.text(width - 152, ly + 1, name, size: 12, anchor: "start"))
        }
        body.append(SVGFigure.text(left, height - 16, "Each dot one seed, each tick the mean over the seeds that reached the stage; \(drawn) values drawn.\(note.map { " " + $0 } ?? "")", size: 11, anchor: "start"))
        return (body + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    /// Tick positions (on the drawn scale) inside [lo, hi]: a log axis spanning less than two
    /// decades gets 1, 2 and 5 × 10ⁿ, so that a short range still has labels.
    static func ticks(_ lo: Double, _ hi: Double, _ axis: SVGChart.Axis) -> [(Double, String)] {
        guard axis == .log, hi - lo < 2 else { return SVGChart.ticks(lo, hi, axis).filter { $0.0 >= lo && $0.0 <= hi } }
        return (Int(lo.rounded(.down))...Int(hi.rounded(.up))).flatMap { e in
            [1.0, 2, 5].map { m in (m.log10 + Double(e), SVGChart.label(m * SVGFigure.pow10(Double(e)))) }
        }.filter { $0.0 >= lo - 1e-9 && $0.0 <= hi + 1e-9 }
    }

    /// One line chart per panel on shared axes (small multiples): `panels[i].series` are
    /// (name, colour index, points); vertical dashed lines at `markers` (x values).
    public static func lines(title: String, xLabel: String, yLabel: String, xAxis: SVGChart.Axis,
                             panels: [(title: String, series: [(name: String, colour: Int, points: [(x: Double, y: Double)])])],
                             markers: [(x: Double, label: String)] = [], note: String? = nil) -> String {
        let panelWidth = 300.0, plotHeight = 260.0, left = 70.0, top = 60.0, height = 400.0
        let width = left + Double(panels.count) * (panelWidth + 24) + 170
        func coordinate(_ v: Double) -> Double? { SVGChart.coordinate(v, xAxis) }
        let xs = panels.flatMap { $0.series.flatMap { $0.points.compactMap { coordinate($0.x) } } } + markers.compactMap { coordinate($0.x) }
        let ys = panels.flatMap { $0.series.flatMap { $0.points.map(\.y).filter(\.isFinite) } }
        var (xlo, xhi) = (xs.min() ?? 0, xs.max() ?? 1), (ylo, yhi) = (ys.min() ?? 0, ys.max() ?? 1)
        if xhi - xlo < 1e-12 { (xlo, xhi) = (xlo - 0.5, xhi + 0.5) }
        if yhi - ylo < 1e-12 { (ylo, yhi) = (ylo - 0.05, yhi + 0.05) }
        (ylo, yhi) = (ylo - (yhi - ylo) * 0.05, yhi + (yhi - ylo) * 0.05)
        var body = [SVGFigure.header(width, height), SVGFigure.text(width / 2, 24, title, size: 15, anchor: "middle")]
        body.append("<text x=\"18\" y=\"\(top + plotHeight / 2)\" font-size=\"12\" transform=\"rotate(-90 18 \(top + plotHeight / 2))\" text-anchor=\"middle\">\(SVGChart.escape(yLabel))</text>")
        var legend: [(String, Int)] = []
        for (p, panel) in panels.enumerated() {
            let x0 = left + Double(p) * (panelWidth + 24)
            func px(_ v: Double) -> Double { x0 + panelWidth * (v - xlo) / (xhi - xlo) }
            func py(_ v: Double) -> Double { top + plotHeight * (1 - (v - ylo) / (yhi - ylo)) }
            body.append("<rect x=\"\(SVGFigure.fmt(x0))\" y=\"\(top)\" width=\"\(panelWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#999\"/>")
            body.append(SVGFigure.text(x0 + panelWidth / 2, top - 8, panel.title, size: 12, anchor: "middle"))
            for (position, label) in ticks(xlo, xhi, xAxis) {
                body.append(SVGFigure.text(px(position), top + plotHeight + 15, label, size: 10, anchor: "middle"))
            }
            if p == 0 {
                for (position, label) in SVGChart.ticks(ylo, yhi, .linear) where position >= ylo && position <= yhi {
                    body.append(SVGFigure.text(x0 - 6, py(position) + 4, label, size: 10, anchor: "end"))
                }
            }
            // Each marker's label a line lower than the one before, so that close thresholds
            // (agreement 0.95 and 0.98) do not print over each other.
            for (m, marker) in markers.enumerated() {
                guard let mx = coordinate(marker.x) else { continue }
                body.append("<line x1=\"\(SVGFigure.fmt(px(mx)))\" y1=\"\(top)\" x2=\"\(SVGFigure.fmt(px(mx)))\" y2=\"\(top + plotHeight)\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>")
                body.append(SVGFigure.text(px(mx) + 3, top + 12 + 12 * Double(m), marker.label, size: 10, anchor: "start"))
            }
            for series in panel.series {
                let points = series.points.compactMap { p in coordinate(p.x).map { (px($0), py(p.y)) } }.filter { $0.1.isFinite }
                guard !points.isEmpty else { continue }
                let path = points.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(SVGFigure.fmt($0.element.0)),\(SVGFigure.fmt($0.element.1))" }.joined(separator: " ")
                body.append("<path class=\"series\" d=\"\(path)\" fill=\"none\" stroke=\"\(SVGFigure.colour(series.colour))\" stroke-width=\"1.6\"/>")
                if !legend.contains(where: { $0.0 == series.name }) { legend.append((series.name, series.colour)) }
            }
        }
        body.append(SVGFigure.text(left + (width - left - 170) / 2, height - 30, xLabel, size: 12, anchor: "middle"))
        for (i, entry) in legend.enumerated() {
            let ly = top + 10 + Double(i) * 20
            body.append("<rect x=\"\(SVGFigure.fmt(width - 160))\" y=\"\(SVGFigure.fmt(ly - 9))\" width=\"12\" height=\"12\" fill=\"\(SVGFigure.colour(entry.1))\"/>")
            body.append(SVGFigure.text(width - 142, ly + 1, entry.0, size: 12, anchor: "start"))
        }
        if let note { body.append(SVGFigure.text(left, height - 10, note, size: 11, anchor: "start")) }
        return (body + ["</svg>"]).joined(separator: "\n") + "\n"
    }
}
