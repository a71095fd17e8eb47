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
/// `put` and listed in `written` (for the command's closing line).
public struct ReportDirectory {
    public let url: URL
    public private(set) var written: [URL] = []

    public init(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        self.url = url
    }

    public func path(_ name: String) -> URL { url.appendingPathComponent(name) }

    public mutating func put(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: path(name))
        written.append(path(name))
    }

    /// Records a file written by someone else (e.g. a model file).
    public mutating func record(_ name: String) { written.append(path(name)) }
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
