import Foundation

/// A file-system error as one sentence (never a raw NSError dump).
public func fileErrorSentence(_ error: Error) -> String {
    let ns = error as NSError
    // Foundation reports a directory read or written as a file with a bare Cocoa code.
    var isDirectory: ObjCBool = false
    if let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path,
       FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        return "\(path) is a directory, not a file"
    }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    return ns.localizedDescription
}
