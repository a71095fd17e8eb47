import Foundation

/// A file-system error as one sentence (never a raw NSError dump).
func fileErrorSentence(_ error: Error) -> String {
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    return ns.localizedDescription
}

/// A JSON decoding error as one sentence: what is wrong and where.
func decodingSentence(_ error: Error) -> String {
    func path(_ context: DecodingError.Context) -> String {
        context.codingPath.isEmpty ? "at the top level" : "at " + context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error as? DecodingError {
    case let .keyNotFound(key, context)?: return "key \"\(key.stringValue)\" missing \(path(context))"
    case let .typeMismatch(_, context)?, let .valueNotFound(_, context)?: return "wrong value \(path(context))"
    case let .dataCorrupted(context)?: return context.codingPath.isEmpty ? "not valid JSON" : "bad value \(path(context))"
    case nil: return (error as NSError).localizedDescription
    @unknown default: return "unreadable"
    }
}
