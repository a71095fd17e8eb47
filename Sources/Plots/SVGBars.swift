extension SVGFigure {
    /// Grouped bars with ±1 standard deviation whiskers: one group per entry of
    /// `groups`, one bar per series inside it, a legend of the series.
    public static func bars(groups: [String], series: [(name: String, means: [Double], stds: [Double])],
                            title: String, yLabel: String) -> String {
        let width = 780.0, height = 460.0, left = 80.0, top = 50.0, plotW = 500.0, plotH = 320.0
        let tops = series.flatMap { s in zip(s.means, s.stds).map { $0 + $1 } }.filter(\.isFinite)
        let yMax = max(tops.max() ?? 1, 1e-12) * 1.08
        func y(_ v: Double) -> Double { top + plotH - max(0, v) / yMax * plotH }
        var body = [header(width, height), text(width / 2, 26, title, size: 15, anchor: "middle"),
                    "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#999\"/>"]
        for (v, label) in SVGChart.ticks(0, yMax, .linear) where v <= yMax {
            body.append("<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(fmt(y(v)))\" y2=\"\(fmt(y(v)))\" stroke=\"#eee\"/>")
            body.append(text(left - 6, y(v) + 4, label, size: 11, anchor: "end"))
        }
        body.append("<text x=\"18\" y=\"\(fmt(top + plotH / 2))\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(fmt(top + plotH / 2)))\">\(SVGChart.escape(yLabel))</text>")
        let groupW = plotW / Double(max(groups.count, 1)), barW = groupW * 0.8 / Double(max(series.count, 1))
        for (g, name) in groups.enumerated() {
            let x0 = left + Double(g) * groupW + groupW * 0.1
            body.append(text(x0 + groupW * 0.4, top + plotH + 18, name, size: 12, anchor: "middle"))
            for (s, line) in series.enumerated() where g < line.means.count {
                let mean = line.means[g], std = g < line.stds.count ? line.stds[g] : 0
                guard mean.isFinite else { continue }
                let x = x0 + Double(s) * barW
                body.append("<rect class=\"bar\" x=\"\(fmt(x))\" y=\"\(fmt(y(mean)))\" width=\"\(fmt(barW * 0.9))\" height=\"\(fmt(top + plotH - y(mean)))\" fill=\"\(colour(s))\"/>")
                if std > 0 {
                    let cx = x + barW * 0.45
                    body.append("<line x1=\"\(fmt(cx))\" x2=\"\(fmt(cx))\" y1=\"\(fmt(y(mean - std)))\" y2=\"\(fmt(y(mean + std)))\" stroke=\"black\"/>")
                }
            }
        }
        for (s, line) in series.enumerated() {
            let yy = top + 10 + Double(s) * 22
            body.append("<rect x=\"\(left + plotW + 18)\" y=\"\(yy)\" width=\"12\" height=\"12\" fill=\"\(colour(s))\"/>")
            body.append(text(left + plotW + 36, yy + 11, line.name, size: 12, anchor: "start"))
        }
        return (body + ["</svg>"]).joined(separator: "\n") + "\n"
    }
}
