import Foundation
import ModelFiles
import Numerics

/// Text from files and directories, read once each (`distill --text PATH …`).
public enum TextCorpus {
    /// The files behind `paths` (a directory stands for every regular file under it),
    /// each real file once however many names or links lead to it, sorted by path, and
    /// their concatenation. Refused with the file's name: a missing path, a file that is
    /// not UTF-8; an empty file adds nothing and is listed.
    public static func read(_ paths: [String]) throws -> (text: String, files: [String]) {
        let manager = FileManager.default
        var real: [String: String] = [:]   // resolved path → the path as listed
        for path in paths {
            var isDirectory: ObjCBool = false
            // Why, as for model files: "file/" is not a directory, not a missing file.
            if let why = ModelFile.unreachable(path) { throw DistillError.badConfiguration("\(path): \(why)") }
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw DistillError.badConfiguration("\(path): no such file or directory")
            }
            let candidates: [String]
            if isDirectory.boolValue {
                guard let walker = manager.enumerator(atPath: path) else {
                    throw DistillError.badConfiguration("\(path): cannot list the directory")
                }
                candidates = walker.compactMap { $0 as? String }.map { (path as NSString).appendingPathComponent($0) }
            } else {
                candidates = [path]
            }
            for file in candidates {
                let resolved = URL(fileURLWithPath: file).resolvingSymlinksInPath().path
                var directory: ObjCBool = false
                guard manager.fileExists(atPath: resolved, isDirectory: &directory), !directory.boolValue else { continue }
                if real[resolved] == nil { real[resolved] = file }
            }
        }
        guard !real.isEmpty else { throw DistillError.badConfiguration("\(paths.joined(separator: ", ")): no files to read") }
        let files = real.keys.sorted()
        var text = ""
        for file in files {
            // An empty file adds nothing; not read at all (Foundation's read of an empty file
            // leaks its buffer, seen under LeakSanitizer).
            if (try? manager.attributesOfItem(atPath: file))?[.size] as? Int == 0 { continue }
            guard let data = manager.contents(atPath: file) else { throw DistillError.badConfiguration("\(file): cannot read the file") }
            guard let content = String(data: data, encoding: .utf8) else {
                throw DistillError.badConfiguration("\(file): not UTF-8 text (\(data.count) bytes); give text files only")
            }
            text += content
        }
        return (text, files)
    }
}

extension Dataset {
    /// The concepts of a text dataset, in order: the input side (what the context holds or
    /// where it sits), then the label side (functions of the next character).
    public static let textConceptNames = [
        "context ends inside a word", "context ends after a space", "context ends after a newline",
        "context ends after a digit", "inside parentheses or quotes", "the next word is capitalised",
        "next character is a vowel", "next character is a space", "next character is punctuation",
    ]

    /// Next-character prediction on UTF-8 text as a dataset (THEORY.md §6, the
    /// autoregressive case): input = the codes of the previous `context` characters (a
    /// character-embedding model looks them up), label = the next character's code. The
    /// alphabet is the characters seen at least 3 times in the training block, at most
    /// `maximumLabels − 1` of the most frequent; every other character becomes one "other"
    /// label (folded until "other", when needed, occurs in the training block too).
    /// Positions before the text's start are padded with a space (with the most frequent
    /// character in a text without spaces). Splits are contiguous
    /// blocks: the first 60 % of positions train, the next 20 % validation, the last 20 %
    /// test. Baselines: top-1 accuracy on the test block of n-gram models with 3 and 5
    /// characters of context (4- and 6-grams in the usual count, which includes the predicted
    /// character) counted on the training block, backing off to shorter contexts (`NGramBaseline`).
    public static func text(_ string: String, name: String, context: Int = 16, maximumLabels: Int = 96) throws -> Dataset {
        guard (1...64).contains(context) else { throw DistillError.badConfiguration("--context must be in 1…64") }
        guard (3...256).contains(maximumLabels) else { throw DistillError.badConfiguration("the label limit must be in 3…256") }
        let characters = Array(string)
        let n = characters.count
        guard n >= 100 else { throw DistillError.badConfiguration("\(name): \(n) characters; next-character prediction needs at least 100") }
        guard n <= 20_000_000 else { throw DistillError.badConfiguration("\(name): \(n) characters exceed the limit of 20 000 000") }
        let trainEnd = n * 6 / 10, validationEnd = n * 8 / 10
        var trainCounts: [Character: Int] = [:]
        for c in characters[0..<trainEnd] { trainCounts[c, default: 0] += 1 }
        var alphabet = trainCounts.filter { $0.value >= 3 }.sorted { ($0.value, String($1.key)) > ($1.value, String($0.key)) }
            .prefix(maximumLabels - 1).map(\.key)
        // Fold until "other" (if any character is outside the alphabet) occurs in training.
        while true {
            let known = Set(alphabet)
            let needsOther = characters.contains { !known.contains($0) }
            if !needsOther || characters[0..<trainEnd].contains(where: { !known.contains($0) }) { break }
            alphabet.removeLast()
        }
        let index = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, $0) })
        let other = alphabet.count
        let needsOther = characters.contains { index[$0] == nil }
        let k = alphabet.count + (needsOther ? 1 : 0)
        guard k >= 2 else { throw DistillError.badConfiguration("\(name): fewer than 2 distinct characters") }
        let codes = characters.map { index[$0] ?? other }
        // A space, or where the text has none (DNA, "abab…") and no "other" label exists, the
        // most frequent character (code 0): the pad must be a code the character table has.
        let pad = index[" "] ?? (needsOther ? other : 0)
        let concepts = textConcepts(characters)
        func split(_ range: Range<Int>) throws -> Split {
            var x = [Double](repeating: 0, count: range.count * context)
            for (row, position) in range.enumerated() {
                for j in 0..<context {
                    let source = position - context + j
                    x[row * context + j] = Double(source >= 0 ? codes[source] : pad)
                }
            }
            return Split(inputs: try Matrix(rows: range.count, columns: context, storage: x),
                         labels: range.map { codes[$0] }, concepts: concepts.map { Array($0[range]) })
        }
        let baselines = [3, 5].reduce(into: [String: Double]()) { result, context in
            result[ngramName(context: context)] = NGramBaseline(codes: codes, training: 0..<trainEnd, order: context + 1, pad: pad)
                .accuracy(on: validationEnd..<n)
        }
        return try Dataset(name: "\(name) (next character, context \(context), k = \(k))", labelCount: k,
                           conceptNames: textConceptNames, train: split(0..<trainEnd),
                           validation: split(trainEnd..<validationEnd), test: split(validationEnd..<n),
                           characterVocabulary: k, baselines: baselines)
    }

    /// The name of the n-gram baseline with `context` characters of context.
    public static func ngramName(context: Int) -> String {
        "n-gram test accuracy, \(context) characters of context"
    }

    /// The text concepts at every position p (the label is character p, the context the
    /// characters before it): see `textConceptNames`. "Inside parentheses or quotes" follows
    /// the text from the start of the paragraph (reset at a blank line): an open '(' not yet
    /// closed, or an odd number of '"'.
    static func textConcepts(_ c: [Character]) -> [[Bool]] {
        let n = c.count
        var inside = [Bool](repeating: false, count: n)
        var depth = 0, quotes = 0
        for p in 0..<n {
            inside[p] = depth > 0 || quotes % 2 == 1
            let ch = c[p]
            if ch == "(" { depth += 1 } else if ch == ")" { depth = max(0, depth - 1) } else if ch == "\"" { quotes += 1 }
            if ch == "\n" && p > 0 && c[p - 1] == "\n" { depth = 0; quotes = 0 }
        }
        // The next word's first letter, seen from each position (at or after it).
        var nextCapital = [Bool](repeating: false, count: n)
        var upcoming = false
        for p in stride(from: n - 1, through: 0, by: -1) {
            if c[p].isLetter && (p == 0 || !c[p - 1].isLetter) { upcoming = c[p].isUppercase }
            nextCapital[p] = upcoming
        }
        func last(_ p: Int) -> Character { p > 0 ? c[p - 1] : " " }
        return [
            (0..<n).map { last($0).isLetter },
            (0..<n).map { last($0) == " " },
            (0..<n).map { last($0) == "\n" },
            (0..<n).map { last($0).isNumber },
            inside,
            nextCapital,
            (0..<n).map { "aeiouAEIOU".contains(c[$0]) },
            (0..<n).map { c[$0] == " " },
            (0..<n).map { c[$0].isPunctuation },
        ]
    }
}

/// An n-gram next-character predictor counted on a training block: for a position, the
/// most frequent next code after its previous n − 1 codes in training (the smallest code
/// on a tie); when that context never occurs, the previous n − 2, and so on down to the
/// most frequent code overall. Positions before the start are padded with `pad`.
public struct NGramBaseline: Sendable {
    let order: Int
    let pad: Int
    let codes: [Int]
    /// Per context length m = 0 … n − 1: context (as a key) → the predicted next code.
    let predictions: [[[Int]: Int]]

    public init(codes: [Int], training: Range<Int>, order: Int, pad: Int) {
        self.order = order; self.pad = pad; self.codes = codes
        var counts = [[[Int]: [Int: Int]]](repeating: [:], count: order)
        for p in training {
            for m in 0..<order {
                counts[m][Self.context(codes, p, m, pad), default: [:]][codes[p], default: 0] += 1
            }
        }
        predictions = counts.map { table in
            table.mapValues { next in next.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key }
        }
    }

    static func context(_ codes: [Int], _ p: Int, _ m: Int, _ pad: Int) -> [Int] {
        (0..<m).map { j in
            let source = p - m + j
            return source >= 0 ? codes[source] : pad
        }
    }

    /// The prediction at position p: the longest context seen in training decides.
    public func predict(at p: Int) -> Int {
        for m in stride(from: order - 1, through: 0, by: -1) {
            if let y = predictions[m][Self.context(codes, p, m, pad)] { return y }
        }
        return 0
    }

    /// Top-1 accuracy over the positions of `range`.
    public func accuracy(on range: Range<Int>) -> Double {
        guard !range.isEmpty else { return .nan }
        return Double(range.filter { predict(at: $0) == codes[$0] }.count) / Double(range.count)
    }
}
