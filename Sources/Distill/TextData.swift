import Foundation
import Numerics

extension Dataset {
    /// Next-character prediction on UTF-8 text as a dataset (THEORY.md §6, the
    /// autoregressive case): input = the previous `context` characters, one-hot each
    /// (D = context · k), label = the next character. The alphabet is the characters seen
    /// at least 3 times in the training block, at most `maximumLabels − 1` of the most
    /// frequent; every other character becomes one "other" label (folded until "other",
    /// when needed, occurs in the training block too). Positions before the text's start
    /// are padded with a space. Splits are contiguous blocks: the first 60 % of positions
    /// train, the next 20 % validation, the last 20 % test.
    ///
    /// Concepts: on the input side "the context ends inside a word" (its last character
    /// is a letter) and "the context ends after a space"; on the label side "the next
    /// character is a vowel" (a function of the label).
    public static func text(_ string: String, name: String, context: Int = 8, maximumLabels: Int = 96) throws -> Dataset {
        guard (1...64).contains(context) else { throw DistillError.badConfiguration("--context must be in 1…64") }
        guard (3...256).contains(maximumLabels) else { throw DistillError.badConfiguration("the label limit must be in 3…256") }
        let characters = Array(string)
        let n = characters.count
        guard n >= 100 else { throw DistillError.badConfiguration("\(name): \(n) characters; next-character prediction needs at least 100") }
        guard n <= 2_000_000 else { throw DistillError.badConfiguration("\(name): \(n) characters exceed the limit of 2 000 000") }
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
        guard n * context * k <= maximumEntries else {
            throw DistillError.badConfiguration("\(name): \(n) positions × \(context * k) one-hot features exceed the limit of \(maximumEntries) entries; use a shorter text or --context")
        }
        let codes = characters.map { index[$0] ?? other }
        let pad = index[" "] ?? other
        let features = context * k
        func split(_ range: Range<Int>) throws -> Split {
            var x = [Double](repeating: 0, count: range.count * features)
            var labels: [Int] = [], inWord: [Bool] = [], afterSpace: [Bool] = [], vowel: [Bool] = []
            for (row, position) in range.enumerated() {
                for j in 0..<context {
                    let source = position - context + j
                    let code = source >= 0 ? codes[source] : pad
                    x[row * features + j * k + code] = 1
                }
                labels.append(codes[position])
                let last: Character = position > 0 ? characters[position - 1] : " "
                inWord.append(last.isLetter)
                afterSpace.append(last == " ")
                vowel.append(index[characters[position]] != nil && "aeiouAEIOU".contains(characters[position]))
            }
            return Split(inputs: try Matrix(rows: range.count, columns: features, storage: x), labels: labels,
                         concepts: [inWord, afterSpace, vowel])
        }
        return try Dataset(name: "\(name) (next character, context \(context), k = \(k))", labelCount: k,
                           conceptNames: ["context ends inside a word", "context ends after a space", "next character is a vowel"],
                           train: split(0..<trainEnd), validation: split(trainEnd..<validationEnd), test: split(validationEnd..<n))
    }
}
