import Foundation
import Numerics
import Theory

/// A saved model pair with the check it violates, replayable with
/// `logitbounds verify --replay FILE`. JSON numbers are written with Swift's
/// shortest round-trip formatting, so every Double reloads bit for bit.
public struct ReplayFile: Codable, Sendable {
    public struct Model: Codable, Sendable {
        public let f: [[Double]]
        public let g: [[Double]]
        public let w: [Double]

        init(_ m: SoftmaxModel) {
            f = (0..<m.inputCount).map { m.embeddings.row($0) }
            g = (0..<m.labelCount).map { m.unembeddings.row($0) }
            w = m.givenWeights
        }

        func model(_ name: String) throws -> SoftmaxModel {
            do {
                return try SoftmaxModel(embeddings: try Matrix(f), unembeddings: try Matrix(g), weights: w)
            } catch {
                throw HarnessError.badReplayFile("model \(name): \(error)")
            }
        }
    }

    public let check: String
    public let plantedScales: [String: Double]
    /// The generated case it came from, before shrinking.
    public let origin: CaseDescriptor?
    public let first: Model
    public let second: Model
    public let command: String

    enum CodingKeys: String, CodingKey {
        case check, origin, first, second, command, plantedScales = "planted_scales"
    }

    public init(check: String, plantedScales: [StatementID: Double], origin: CaseDescriptor?, pair: ModelPair, path: String) {
        self.check = check
        self.plantedScales = Dictionary(uniqueKeysWithValues: plantedScales.map { ($0.key.rawValue, $0.value) })
        self.origin = origin
        first = Model(pair.first)
        second = Model(pair.second)
        let plant = plantedScales.sorted { $0.key < $1.key }.map { " --plant \($0.key.rawValue)=\($0.value)" }.joined()
        command = "logitbounds verify --replay \(path)\(plant)"
    }

    public func pair() throws -> ModelPair {
        do { return try ModelPair(first.model("first"), second.model("second")) }
        catch let e as HarnessError { throw e }
        catch { throw HarnessError.badReplayFile("\(error)") }
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    public static func read(from url: URL) throws -> ReplayFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw HarnessError.badReplayFile("\(url.path): cannot read (\(fileErrorSentence(error)))")
        }
        do { return try JSONDecoder().decode(ReplayFile.self, from: data) } catch {
            throw HarnessError.badReplayFile("\(url.path): not a replay file (\(decodingSentence(error, data: data)))")
        }
    }
}
