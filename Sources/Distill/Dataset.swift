import Foundation
import ModelFiles
import Numerics

/// A labelled dataset split into train, validation and test, with binary concepts of
/// the inputs (THEORY.md §6): what `distill` trains and measures on.
public struct Dataset: Sendable {
    public struct Split: Sendable {
        /// N×D inputs.
        public let inputs: Matrix
        public let labels: [Int]
        /// concepts[c][i]: concept c of row i.
        public let concepts: [[Bool]]
        public var count: Int { labels.count }

        public init(inputs: Matrix, labels: [Int], concepts: [[Bool]]) {
            self.inputs = inputs; self.labels = labels; self.concepts = concepts
        }

        func rows(_ indices: [Int]) -> Split {
            Split(inputs: inputs.selectingRows(indices), labels: indices.map { labels[$0] },
                  concepts: concepts.map { c in indices.map { c[$0] } })
        }
    }

    /// Where the data came from, for the report.
    public let name: String
    public let labelCount: Int
    public let conceptNames: [String]
    /// Whether each concept is a function of the label on the whole dataset (every
    /// label's inputs share one value).
    public let conceptIsLabelFunction: [Bool]
    public let train: Split
    public let validation: Split
    public let test: Split
    /// For text: the number of character codes; the inputs then hold each row's C
    /// previous characters as codes 0 … vocabulary − 1 (a character-embedding model reads them).
    public let characterVocabulary: Int?
    /// Baselines computed by the dataset's maker, by name (for text: n-gram accuracies).
    public let baselines: [String: Double]

    public var inputDimension: Int { train.inputs.columns }

    public init(name: String, labelCount: Int, conceptNames: [String], train: Split, validation: Split, test: Split,
                characterVocabulary: Int? = nil, baselines: [String: Double] = [:]) throws {
        guard [train, validation, test].allSatisfy({ $0.concepts.count == conceptNames.count }) else {
            throw DistillError.badConfiguration("dataset \(name): concept arrays and names differ in number")
        }
        // Each concept is exported as its own file (`DistillReport.modelFileName`, which maps other
        // characters to "-"): c_a/b and c_a-b wrote one file for two concepts.
        var files: [String: String] = [:]
        for concept in conceptNames {
            let file = DistillReport.modelFileName("concept-" + concept)
            if let other = files[file] {
                throw DistillError.badConfiguration("dataset \(name): concepts c_\(other) and c_\(concept) would be exported to one file (\(file.dropLast(4)).npy); rename one")
            }
            files[file] = concept
        }
        for (splitName, split) in [("train", train), ("validation", validation), ("test", test)] where split.count == 0 {
            throw DistillError.badConfiguration("dataset \(name): the \(splitName) split is empty")
        }
        let present = Set(train.labels)
        if let missing = (0..<labelCount).first(where: { !present.contains($0) }) {
            throw DistillError.badConfiguration("dataset \(name): label \(missing) has no input in the training split")
        }
        self.name = name
        self.labelCount = labelCount
        self.characterVocabulary = characterVocabulary
        self.baselines = baselines
        self.conceptNames = conceptNames
        self.train = train
        self.validation = validation
        self.test = test
        conceptIsLabelFunction = conceptNames.indices.map { c in
            var value: [Int: Bool] = [:]
            for split in [train, validation, test] {
                for (y, v) in zip(split.labels, split.concepts[c]) {
                    if let seen = value[y], seen != v { return false }
                    value[y] = v
                }
            }
            return true
        }
    }

    /// The spirals of `SpiralData` as a dataset with its one concept.
    public init(spirals s: SpiralData) throws {
        func split(_ p: SpiralData.Split) -> Split { Split(inputs: p.inputs, labels: p.labels, concepts: [p.concept]) }
        try self.init(name: "spirals (\(s.arms) arms, \(s.labelCount) labels)", labelCount: s.labelCount,
                      conceptNames: ["arm starts in the upper half-plane"],
                      train: split(s.train), validation: split(s.validation), test: split(s.test))
    }

    /// Limits on a dataset file, checked before training.
    public static let maximumRows = 2_000_000
    public static let maximumFeatures = 100_000
    public static let maximumLabels = 1_000
    /// N·D ≤ 2·10⁸ (1.6 GB of inputs; the training copies batches, not the whole matrix).
    public static let maximumEntries = 200_000_000

    /// Reads a dataset `.npz`: `x` (N×D), `y` (N labels 0…k−1), optional `split` (N values
    /// 0 train, 1 validation, 2 test; else a stratified 60/20/20 split seeded by `seed`)
    /// and concepts `c_NAME` (N values 0/1). Labels, splits and concepts may be stored as
    /// integers, bools or floats with integral values. Every problem is a
    /// `DistillError.badConfiguration` naming the file and the array.
    public static func read(_ url: URL, seed: UInt64) throws -> Dataset {
        let file = url.path
        let arrays: [String: NumpyArray]
        do { arrays = try ModelFile.readArrays(url, integers: true) } catch let e as ModelFileError {
            throw DistillError.badConfiguration(e.description)
        }
        func fail(_ array: String, _ reason: String) -> DistillError { .badConfiguration("\(file): array '\(array)': \(reason)") }
        guard let x = arrays["x"] else { throw DistillError.badConfiguration("\(file): no array 'x' (N×D inputs); a dataset needs x and y") }
        guard let y = arrays["y"] else { throw DistillError.badConfiguration("\(file): no array 'y' (N labels); a dataset needs x and y") }
        guard x.shape.count == 2, x.shape[0] >= 1, x.shape[1] >= 1 else { throw fail("x", "shape \(x.shape) is not N×D") }
        let (n, features) = (x.shape[0], x.shape[1])
        guard n <= maximumRows, features <= maximumFeatures, n * features <= maximumEntries else {
            throw fail("x", "\(n)×\(features) exceeds the limits of \(maximumRows) rows, \(maximumFeatures) features and \(maximumEntries) entries")
        }
        if let i = x.values.firstIndex(where: { !$0.isFinite }) { throw fail("x", "value \(x.values[i]) at flat index \(i) is not finite") }
        func vector(_ name: String, _ a: NumpyArray) throws -> [Int] {
            guard a.shape == [n] || a.shape == [n, 1] else { throw fail(name, "shape \(a.shape), expected (\(n),) to match x") }
            return try a.values.enumerated().map { i, v in
                guard v.isFinite, v == v.rounded(), abs(v) < 1e15 else { throw fail(name, "value \(v) at index \(i) is not an integer") }
                return Int(v)
            }
        }
        let labels = try vector("y", y)
        guard let top = labels.max(), labels.min()! >= 0 else { throw fail("y", "labels must be 0…k−1; found \(labels.min()!)") }
        let k = top + 1
        guard k >= 2, k <= maximumLabels else { throw fail("y", "k = \(k) labels; need 2…\(maximumLabels)") }
        let present = Set(labels)
        if let missing = (0..<k).first(where: { !present.contains($0) }) {
            throw fail("y", "label \(missing) never occurs, so the labels are not 0…k−1 (k = \(k))")
        }
        let conceptKeys = arrays.keys.filter { $0.hasPrefix("c_") }.sorted()
        let concepts = try conceptKeys.map { key -> [Bool] in
            let values = try vector(key, arrays[key]!)
            if let i = values.firstIndex(where: { $0 != 0 && $0 != 1 }) { throw fail(key, "value \(values[i]) at index \(i) is not 0 or 1") }
            return values.map { $0 == 1 }
        }
        let unknown = arrays.keys.filter { !["x", "y", "split"].contains($0) && !$0.hasPrefix("c_") }.sorted()
        guard unknown.isEmpty else {
            throw DistillError.badConfiguration("\(file): unknown array(s) \(unknown.joined(separator: ", ")); a dataset holds x, y, split and c_NAME concepts")
        }
        let assignment: [Int]
        if let s = arrays["split"] {
            assignment = try vector("split", s)
            if let i = assignment.firstIndex(where: { !(0...2).contains($0) }) {
                throw fail("split", "value \(assignment[i]) at index \(i) is not 0 (train), 1 (validation) or 2 (test)")
            }
        } else {
            assignment = stratifiedSplit(labels, k: k, seed: seed)
        }
        let matrix = try Matrix(rows: n, columns: features, storage: x.values)
        let all = Split(inputs: matrix, labels: labels, concepts: concepts)
        func part(_ v: Int) -> Split { all.rows((0..<n).filter { assignment[$0] == v }) }
        return try Dataset(name: url.lastPathComponent, labelCount: k, conceptNames: conceptKeys.map { String($0.dropFirst(2)) },
                           train: part(0), validation: part(1), test: part(2))
    }

    /// Per label: a seeded shuffle, the first 60 % train, the next 20 % validation, the
    /// rest test (rounded down; a label with one input goes to train).
    static func stratifiedSplit(_ labels: [Int], k: Int, seed: UInt64) -> [Int] {
        var g = SeededGenerator(seed: SeededGenerator.derive(seed, 0x5917))
        var assignment = [Int](repeating: 0, count: labels.count)
        for y in 0..<k {
            var rows = labels.indices.filter { labels[$0] == y }
            for i in stride(from: rows.count - 1, to: 0, by: -1) { rows.swapAt(i, Int(g.next() % UInt64(i + 1))) }
            let a = rows.count * 6 / 10, b = rows.count * 8 / 10
            for (j, r) in rows.enumerated() { assignment[r] = j < max(a, 1) ? 0 : (j < b ? 1 : 2) }
        }
        return assignment
    }
}
