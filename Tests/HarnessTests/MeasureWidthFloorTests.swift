import Foundation
import ModelFiles
import Numerics
import Testing
import Theory

@Suite("logitbounds measure: T12's width floor")
struct MeasureWidthFloorTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-width-\(UInt32.random(in: 0...UInt32.max))")

    @Test("The floor at B's width, the curve and the ratio against a direct SVD; the exported attaining student measures at ratio 1, certified")
    func floorAndAttainingStudent() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = SeededGenerator(seed: 1501)
        let teacher = ModelGenerator.model(labels: 10, dimension: 6, inputs: 120, condition: 20, using: &g)
        let student = ModelGenerator.model(labels: 10, dimension: 3, inputs: 120, using: &g)
        let a = dir.appendingPathComponent("a.npz"), b = dir.appendingPathComponent("b.npz")
        try ModelFile.write(teacher, to: a)
        try ModelFile.write(student, to: b)
        let out = dir.appendingPathComponent("out")
        let r = try runTool(["measure", a.path, b.path, "--json", "--no-pivot", "--out", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let direct = try teacher.centredLogits.scalingRows(by: teacher.sqrtWeights).singularValues().map { $0 * $0 }
        let scale = direct.reduce(0, +)
        let curve = try #require(json["width_floor_curve"] as? [Double])
        #expect(curve.count == 6 && curve.last == 0)
        for (r, value) in curve.enumerated() {
            #expect(abs(value - direct[(r + 1)...].reduce(0, +)) <= 1e-10 * scale, "width \(r + 1)")
        }
        let floor = try #require(json["d_logit_squared_width_floor"] as? Double)
        #expect(abs(floor - curve[2]) <= 1e-12 * scale)
        let distance = try #require(json["d_logit_squared"] as? Double)
        #expect(abs(try #require(json["width_floor_ratio"] as? Double) - distance / floor) <= 1e-9 * distance / floor)
        let t12 = try #require((json["bounds"] as? [[String: Any]])?.first { $0["id"] as? String == "T12" })
        #expect(t12["holds"] as? Bool == true && t12["certified"] as? Bool == true)
        // The figure and the attaining student.
        let svg = try String(contentsOf: out.appendingPathComponent("width-floor.svg"), encoding: .utf8)
        #expect(svg.contains("<svg") && svg.hasSuffix("</svg>\n") && svg.contains("this student"))
        let attaining = out.appendingPathComponent("width-floor-student.npz")
        let again = try runTool(["measure", a.path, attaining.path, "--json", "--no-pivot"])
        #expect(again.status == 0, "\(again.stderr)")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(abs(try #require(second["width_floor_ratio"] as? Double) - 1) <= 1e-9)
        // It is the student's width (3) and its d_logit² is the first run's floor for width 3.
        #expect((second["sizes"] as? [String: Any])?["d_b"] as? Int == 3)
        let floor3 = try #require(json["d_logit_squared_width_floor"] as? Double)
        #expect(abs(try #require(second["d_logit_squared"] as? Double) - floor3) <= 1e-9 * floor3)
        let certified = try #require((second["bounds"] as? [[String: Any]])?.first { $0["id"] as? String == "T12" })
        #expect(certified["holds"] as? Bool == true && certified["certified"] as? Bool == true)
    }

    @Test("A student at least as wide as the rank bound: the floor is 0 exactly, and the report says why")
    func zeroFloor() throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = SeededGenerator(seed: 1502)
        let teacher = ModelGenerator.model(labels: 5, dimension: 3, inputs: 40, using: &g)
        let student = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 40, columns: 6), unembeddings: g.gaussianMatrix(rows: 5, columns: 6))
        /// Both models written to files and measured: the JSON report.
        func measured(_ first: SoftmaxModel, _ second: SoftmaxModel, _ names: (String, String)) throws -> (files: (URL, URL), json: [String: Any]) {
            let a = dir.appendingPathComponent(names.0), b = dir.appendingPathComponent(names.1)
            try ModelFile.write(first, to: a)
            try ModelFile.write(second, to: b)
            let r = try runTool(["measure", a.path, b.path, "--json", "--no-pivot"])
            #expect(r.status == 0, "\(r.stderr)")
            return ((a, b), try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]))
        }
        let ((a, b), json) = try measured(teacher, student, ("a.npz", "b.npz"))
        #expect(json["d_logit_squared_width_floor"] as? Double == 0 && json["width_floor_ratio"] == nil)
        #expect((json["width_floor_note"] as? String)?.contains("min(d₁, k − 1)") == true)
        let markdown = try runTool(["measure", a.path, b.path, "--no-pivot"])
        #expect(markdown.stdout.contains("T12 width floor") && markdown.stdout.contains("the floor is 0"))
        // Narrower than the teacher but as wide as k − 1: the centred logits have rank ≤ k − 1 = 3.
        let wide = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 40, columns: 6), unembeddings: g.gaussianMatrix(rows: 4, columns: 6))
        let narrow = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 40, columns: 3), unembeddings: g.gaussianMatrix(rows: 4, columns: 3))
        let second = try measured(wide, narrow, ("c.npz", "d.npz")).json
        #expect(second["d_logit_squared_width_floor"] as? Double == 0 && (second["width_floor_note"] as? String)?.contains("k − 1") == true,
                "\(String(describing: second["d_logit_squared_width_floor"])) \(String(describing: second["width_floor_note"]))")
        let curve = try #require(second["width_floor_curve"] as? [Double])
        #expect(curve.count == 6 && curve[2...].allSatisfy { $0 <= 1e-10 * (curve.first ?? 1) } && curve[0] > 0, "\(curve)")
    }
}
