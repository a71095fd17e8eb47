import Foundation

/// The one JSON convention of every report: pretty-printed, sorted keys, and
/// non-finite numbers (a ratio of +∞, an undefined side) written as the strings
/// "inf", "-inf", "nan". The decoder reads the same convention back (`merge`).
public enum ReportJSON {
    /// - Parameter snakeCase: write Swift's camelCase property names as snake_case
    ///   (for types without their own coding keys).
    public static func encode<T: Encodable>(_ value: T, snakeCase: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if snakeCase { encoder.keyEncodingStrategy = .convertToSnakeCase }
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(type, from: data)
    }
}

/// A report's output directory: created on first use, every file written through
/// `put` or `target` and listed in `written` (for the command's closing line). A file that is
/// one of the command's inputs (by device and inode, through any path) is never replaced.
public struct ReportDirectory {
    public let url: URL
    public private(set) var written: [URL] = []
    private let inputs: [(path: String, identity: [UInt64])]

    /// `protecting`: the command's input files, which a write refuses to replace.
    public init(_ url: URL, protecting inputs: [String] = []) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.url = url
        self.inputs = inputs.compactMap { path in fileIdentity(path).map { (path, $0) } }
    }

    public func path(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// The path to write `name` at; throws when that file is one of the inputs.
    public func target(_ name: String) throws -> URL {
        let url = path(name)
        if let identity = fileIdentity(url.path), let input = inputs.first(where: { $0.identity == identity }) {
            throw OverwriteRefusal(output: url.path, input: input.path)
        }
        return url
    }

    public mutating func put(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: target(name), options: .atomic)
        written.append(path(name))
    }

    /// Records a file written by someone else (e.g. a model file) through `target`.
    public mutating func record(_ name: String) { written.append(path(name)) }
}

/// An output that would replace one of the command's input files.
public struct OverwriteRefusal: LocalizedError, Equatable {
    public let output: String
    public let input: String
    public var errorDescription: String? { "\(output) is the input file \(input): it would be overwritten; write it elsewhere" }
}

/// (device, inode) of an existing file, following symlinks; nil when there is none.
public func fileIdentity(_ path: String) -> [UInt64]? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return [UInt64(info.st_dev), UInt64(info.st_ino)]
}

/// A JSON decoding error as one sentence: what is wrong and where. With the `data` that
/// failed, a document that is valid JSON is not called invalid: Foundation reports a number
/// that does not fit its field (2.5 or 10³⁰ for an integer) as "not valid JSON", at no path.
public func decodingSentence(_ error: Error, data: Data? = nil) -> String {
    func path(_ context: DecodingError.Context) -> String {
        context.codingPath.isEmpty ? "at the top level" : "at " + context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error as? DecodingError {
    case let .keyNotFound(key, context)?: return "key \"\(key.stringValue)\" missing \(path(context))"
    case let .typeMismatch(_, context)?, let .valueNotFound(_, context)?: return "wrong value \(path(context))"
    case let .dataCorrupted(context)?:
        guard context.codingPath.isEmpty else { return "bad value \(path(context))" }
        if let data, (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil {
            return "a number does not fit its field: a fraction or an out-of-range value where an integer is expected"
        }
        return "not valid JSON"
    case nil: return (error as NSError).localizedDescription
    @unknown default: return "unreadable"
    }
}

/// Text for one cell of a Markdown table: a `|` (as in a form's |m|, or a user's concept
/// name) would end the cell, so it is escaped; line breaks become spaces.
public func markdownCell(_ text: String) -> String {
    text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
}
