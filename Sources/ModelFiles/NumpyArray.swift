import Foundation

/// How an array is laid out in a `.npy` file: element type, byte order, memory
/// order and header version. Reading accepts every combination; writing produces
/// any of them (float64, little-endian, C order, version 1.0 by default).
public struct NumpyFormat: Sendable, Equatable, CustomStringConvertible {
    /// Bytes per element: the floating-point types a model file may hold.
    public enum Precision: Int, Sendable, CaseIterable {
        case float16 = 2, float32 = 4, float64 = 8
    }

    public var precision: Precision
    public var bigEndian: Bool
    public var fortranOrder: Bool
    /// Header version 1 (2-byte header length), 2 (4-byte) or 3 (4-byte, UTF-8).
    public var version: UInt8

    public init(precision: Precision = .float64, bigEndian: Bool = false, fortranOrder: Bool = false, version: UInt8 = 1) {
        precondition((1...3).contains(version), "NumpyFormat: version must be 1, 2 or 3")
        self.precision = precision
        self.bigEndian = bigEndian
        self.fortranOrder = fortranOrder
        self.version = version
    }

    /// NumPy's `descr` string, e.g. "<f8".
    public var descr: String { (bigEndian ? ">" : "<") + "f\(precision.rawValue)" }

    public var description: String {
        "\(descr), \(fortranOrder ? "Fortran" : "C") order, .npy v\(version).0"
    }

    /// Every supported layout, for round-trip tests.
    public static var all: [NumpyFormat] {
        Precision.allCases.flatMap { p in
            [false, true].flatMap { big in
                [false, true].flatMap { fortran in
                    (1...3).map { NumpyFormat(precision: p, bigEndian: big, fortranOrder: fortran, version: UInt8($0)) }
                }
            }
        }
    }
}

/// A real array as NumPy stores it in a `.npy` file, held as Doubles in C order.
public struct NumpyArray: Equatable, Sendable {
    public let shape: [Int]
    public let values: [Double]

    public init(shape: [Int], values: [Double]) {
        precondition(shape.reduce(1, *) == values.count, "NumpyArray: shape does not match the value count")
        self.shape = shape
        self.values = values
    }

    /// The `.npy` bytes: magic, version, a header dict padded so the data starts at
    /// a multiple of 64 bytes, then the values in the requested layout. Values are
    /// rounded to the nearest float32/float16 when the format is narrower.
    public func npyData(_ format: NumpyFormat = NumpyFormat()) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(format.descr)', 'fortran_order': \(format.fortranOrder ? "True" : "False"), 'shape': \(shapeText), }"
        let prefix = format.version == 1 ? 10 : 12
        header += String(repeating: " ", count: (64 - (prefix + header.utf8.count + 1) % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [format.version, 0])
        let length = header.utf8.count
        data.append(contentsOf: (0..<(prefix - 8)).map { UInt8((length >> (8 * $0)) & 0xFF) })
        data.append(contentsOf: Array(header.utf8))
        let ordered = format.fortranOrder ? Self.reorder(values, shape: shape, toFortran: true) : values
        let size = format.precision.rawValue
        var bytes = [UInt8](repeating: 0, count: ordered.count * size)
        bytes.withUnsafeMutableBytes { out in
            for (i, v) in ordered.enumerated() {
                let bits: UInt64
                switch format.precision {
                case .float64: bits = v.bitPattern
                case .float32: bits = UInt64(Float(v).bitPattern)
                case .float16: bits = UInt64(Float16(v).bitPattern)
                }
                for b in 0..<size {
                    let shift = format.bigEndian ? 8 * (size - 1 - b) : 8 * b
                    out[i * size + b] = UInt8((bits >> UInt64(shift)) & 0xFF)
                }
            }
        }
        data.append(contentsOf: bytes)
        return data
    }

    /// Parses `.npy` bytes in any supported layout.
    public init(npy data: Data, file: String, array: String, integers: Bool = false) throws {
        self = try data.withUnsafeBytes { try NumpyArray(npy: $0, file: file, array: array, integers: integers) }
    }

    /// Parses `.npy` bytes in any supported layout: float16/32/64, either byte
    /// order, C or Fortran order, header version 1–3; with `integers`, also bool,
    /// int8…int64 and uint8…uint64 (for labels, splits and 0/1 concepts; a value
    /// beyond ±2⁵³ is refused, since a Double could not hold it exactly). Every
    /// problem is a `ModelFileError.badArray` naming the file, the array and what is wrong.
    public init(npy bytes: UnsafeRawBufferPointer, file: String, array: String, integers: Bool = false) throws {
        func fail(_ reason: String) -> ModelFileError { .badArray(file: file, array: array, reason: reason) }
        let layout = try NpyLayout(bytes, size: bytes.count, integers: integers, fail: fail)
        let (header, integer, precision, count, start) = (layout.header, layout.integer, layout.precision, layout.count, layout.dataStart)
        let big = header.bigEndian
        if let integer {
            var values = [Double](repeating: 0, count: count)
            let base = bytes.baseAddress! + start
            for i in 0..<count {
                var raw: UInt64 = 0
                for b in 0..<integer.width {
                    let byte = UInt64(base.load(fromByteOffset: i * integer.width + b, as: UInt8.self))
                    raw |= byte << (8 * UInt64(big ? integer.width - 1 - b : b))
                }
                if integer.signed, integer.width < 8, raw >> (8 * UInt64(integer.width) - 1) == 1 {
                    raw |= ~0 << (8 * UInt64(integer.width))
                }
                let magnitude = integer.signed ? Int64(bitPattern: raw).magnitude : raw
                guard magnitude <= 1 << 53 else { throw fail("integer value \(integer.signed ? String(Int64(bitPattern: raw)) : String(raw)) at index \(i) is beyond ±2⁵³") }
                values[i] = integer.signed ? Double(Int64(bitPattern: raw)) : Double(raw)
            }
            if header.fortranOrder { values = Self.reorder(values, shape: header.shape, toFortran: false) }
            self.init(shape: header.shape, values: values)
            return
        }
        var values = Self.decode(bytes.baseAddress! + start, count: count, precision: precision, bigEndian: big)
        if header.fortranOrder { values = Self.reorder(values, shape: header.shape, toFortran: false) }
        self.init(shape: header.shape, values: values)
    }

    /// `count` floats of the given precision and byte order from `base`, as Doubles. Written
    /// once each, never zeroed first (a model's G is hundreds of MB); float64 in the host's own
    /// byte order is copied as it is.
    static func decode(_ base: UnsafeRawPointer, count: Int, precision: NumpyFormat.Precision, bigEndian big: Bool) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { out, initialized in
            switch precision {
            case .float64:
                #if _endian(little)
                let native = !big
                #else
                let native = big
                #endif
                if native {
                    if let target = out.baseAddress { UnsafeMutableRawPointer(target).copyMemory(from: base, byteCount: 8 * count) }
                } else {
                    for i in 0..<count {
                        let raw = UnsafeRawPointer(base + 8 * i).loadUnaligned(as: UInt64.self)
                        out[i] = Double(bitPattern: big ? UInt64(bigEndian: raw) : UInt64(littleEndian: raw))
                    }
                }
            case .float32:
                for i in 0..<count {
                    let raw = UnsafeRawPointer(base + 4 * i).loadUnaligned(as: UInt32.self)
                    out[i] = Double(Float(bitPattern: big ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)))
                }
            case .float16:
                for i in 0..<count {
                    let raw = UnsafeRawPointer(base + 2 * i).loadUnaligned(as: UInt16.self)
                    out[i] = Double(Float16(bitPattern: big ? UInt16(bigEndian: raw) : UInt16(littleEndian: raw)))
                }
            }
            initialized = count
        }
    }

    /// Converts between C order (last index fastest) and Fortran order (first
    /// index fastest) for any number of dimensions.
    static func reorder(_ values: [Double], shape: [Int], toFortran: Bool) -> [Double] {
        guard shape.count >= 2, !values.isEmpty else { return values }
        var cStride = [Int](repeating: 1, count: shape.count), fStride = cStride
        for a in stride(from: shape.count - 2, through: 0, by: -1) { cStride[a] = cStride[a + 1] * shape[a + 1] }
        for a in 1..<shape.count { fStride[a] = fStride[a - 1] * shape[a - 1] }
        var out = [Double](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<values.count {
            var f = 0
            for a in 0..<shape.count { f += index[a] * fStride[a] }
            if toFortran { out[f] = values[c] } else { out[c] = values[f] }
            var a = shape.count - 1
            while a >= 0 {
                index[a] += 1
                if index[a] < shape[a] { break }
                index[a] = 0
                a -= 1
            }
        }
        return out
    }
}

/// Where an `.npy` array's data starts and how to decode it, from the array's first
/// bytes (at least through its header) and its total size: magic bytes, version, header,
/// dtype, and a data size that matches the shape exactly. Shared by the whole-array reader
/// and the shard reader, which reads only the header and some rows.
struct NpyLayout {
    let header: NpyHeader
    /// bool/int/uint element width and signedness, when integers were asked for and the dtype is one.
    let integer: (width: Int, signed: Bool)?
    /// The float precision (float64 standing in when `integer` is set).
    let precision: NumpyFormat.Precision
    let count: Int
    let dataStart: Int

    /// The header text's byte range, from the first 10 (version 1) or 12 bytes.
    static func headerRange(_ bytes: UnsafeRawBufferPointer, size: Int, fail: (String) -> ModelFileError) throws -> Range<Int> {
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy array (bad magic bytes)")
        }
        let major = Int(bytes[6])
        guard (1...3).contains(major) else { throw fail("unsupported .npy format version \(major).\(bytes[7])") }
        let headerStart = major == 1 ? 10 : 12
        guard bytes.count >= headerStart else { throw fail("truncated before the header") }
        let headerLength = (8..<headerStart).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        guard size >= headerStart + headerLength else {
            throw fail("truncated header (\(headerLength) bytes announced, \(size - headerStart) present)")
        }
        return headerStart..<(headerStart + headerLength)
    }

    init(_ bytes: UnsafeRawBufferPointer, size: Int, integers: Bool, fail: (String) -> ModelFileError) throws {
        let range = try Self.headerRange(bytes, size: size, fail: fail)
        guard bytes.count >= range.upperBound else { throw fail("truncated header") }
        guard let text = String(bytes: bytes[range], encoding: .utf8) else { throw fail("header is not valid text") }
        do { header = try NpyHeader(parsing: text) } catch let e as NpyHeader.ParseError { throw fail("bad header: \(e.reason) in \(text.trimmingCharacters(in: .whitespacesAndNewlines))") }
        integer = integers ? header.integerKind : nil
        precision = integer == nil ? try header.precision(fail) : .float64
        let width = integer?.width ?? precision.rawValue
        let (count, overflow) = header.shape.reduce((1, false)) { acc, n in
            let (p, o) = acc.0.multipliedReportingOverflow(by: n)
            return (p, acc.1 || o)
        }
        let (byteCount, overflow2) = count.multipliedReportingOverflow(by: width)
        guard !overflow, !overflow2 else { throw fail("shape \(header.shape) is too large to address") }
        let present = size - range.upperBound
        guard present == byteCount else {
            throw fail(present < byteCount
                ? "truncated data: shape \(header.shape) needs \(byteCount) bytes, the file holds \(present)"
                : "header says shape \(header.shape) (\(byteCount) bytes) but the file holds \(present) bytes of data")
        }
        self.count = count
        dataStart = range.upperBound
    }
}

/// The header dictionary of a `.npy` file, e.g.
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`, parsed as the
/// small Python-literal language it is (keys in any order, any spacing).
struct NpyHeader {
    struct ParseError: Error { let reason: String }

    let descr: String
    let fortranOrder: Bool
    let shape: [Int]

    var bigEndian: Bool { descr.first == ">" }

    init(parsing text: String) throws {
        var p = Parser(text: Array(text.unicodeScalars))
        var entries: [String: Value] = [:]
        try p.expect("{")
        while true {
            p.skipSpace()
            if p.peek == "}" { p.index += 1; break }
            guard case let .string(key) = try p.value() else { throw ParseError(reason: "a dictionary key is not a string") }
            try p.expect(":")
            entries[key] = try p.value()
            p.skipSpace()
            if p.peek == "," { p.index += 1; continue }
            try p.expect("}")
            break
        }
        guard case let .string(descr)? = entries["descr"] else {
            if entries["descr"] != nil { throw ParseError(reason: "structured dtypes (a list 'descr') are not supported") }
            throw ParseError(reason: "no 'descr' key")
        }
        guard case let .bool(fortran)? = entries["fortran_order"] else { throw ParseError(reason: "no boolean 'fortran_order' key") }
        guard case let .tuple(shape)? = entries["shape"] else { throw ParseError(reason: "no tuple 'shape' key") }
        self.descr = descr
        self.fortranOrder = fortran
        self.shape = shape
    }

    /// bool, intN or uintN: the element width in bytes and whether it is signed.
    var integerKind: (width: Int, signed: Bool)? {
        let order = descr.first.map(String.init) ?? ""
        let body = ["<", ">", "|", "="].contains(order) ? String(descr.dropFirst()) : descr
        guard let kind = body.first, let size = Int(body.dropFirst()), [1, 2, 4, 8].contains(size) else { return nil }
        guard size == 1 || order != "|" else { return nil }
        switch kind {
        case "b": return size == 1 ? (1, false) : nil
        case "i": return (size, true)
        case "u": return (size, false)
        default: return nil
        }
    }

    /// The float precision `descr` names, or an error saying what the dtype is.
    func precision(_ fail: (String) -> ModelFileError) throws -> NumpyFormat.Precision {
        let order = descr.first.map(String.init) ?? ""
        let body = ["<", ">", "|", "="].contains(order) ? String(descr.dropFirst()) : descr
        let kind = body.first.map(String.init) ?? "", size = Int(body.dropFirst()) ?? 0
        if kind == "f", let p = NumpyFormat.Precision(rawValue: size) {
            if size > 1 && order == "|" { throw fail("dtype '\(descr)' has no byte order") }
            return p
        }
        let names = ["c": "complex", "O": "Python object", "i": "signed integer", "u": "unsigned integer",
                     "b": "boolean", "U": "unicode string", "S": "byte string", "V": "raw/structured",
                     "M": "datetime", "m": "timedelta", "f": "float of unsupported width"]
        throw fail("unsupported dtype '\(descr)' (\(names[kind] ?? "unknown kind")); export float16, float32 or float64, e.g. arr.astype(np.float64)")
    }

    enum Value {
        case string(String), bool(Bool), tuple([Int]), other
    }

    struct Parser {
        let text: [Unicode.Scalar]
        var index = 0

        var peek: Unicode.Scalar? { index < text.count ? text[index] : nil }

        mutating func skipSpace() {
            while let c = peek, c.properties.isWhitespace { index += 1 }
        }

        mutating func expect(_ c: Unicode.Scalar) throws {
            skipSpace()
            guard peek == c else { throw ParseError(reason: "expected '\(c)' at character \(index)") }
            index += 1
        }

        mutating func value() throws -> Value {
            skipSpace()
            guard let c = peek else { throw ParseError(reason: "unexpected end") }
            if c == "'" || c == "\"" {
                index += 1
                let start = index
                while let d = peek, d != c { index += 1 }
                guard peek == c else { throw ParseError(reason: "unterminated string") }
                defer { index += 1 }
                return .string(String(String.UnicodeScalarView(text[start..<index])))
            }
            if c == "(" {
                index += 1
                var dims: [Int] = []
                while true {
                    skipSpace()
                    if peek == ")" { index += 1; return .tuple(dims) }
                    let start = index
                    while let d = peek, ("0"..."9").contains(d) { index += 1 }
                    if peek == "L" { index += 1 }
                    guard start < index, let n = Int(String(String.UnicodeScalarView(text[start..<index].filter { $0 != "L" }))) else {
                        throw ParseError(reason: "shape entry at character \(start) is not a non-negative integer")
                    }
                    dims.append(n)
                    skipSpace()
                    if peek == "," { index += 1 }
                    else if peek != ")" { throw ParseError(reason: "expected ',' or ')' in shape at character \(index)") }
                }
            }
            for (word, v) in [("True", Value.bool(true)), ("False", .bool(false))] where text[index...].starts(with: word.unicodeScalars) {
                index += word.unicodeScalars.count
                return v
            }
            // Anything else (a list for structured dtypes, a number): skip to the next top-level ',' or '}'.
            var depth = 0
            while let d = peek {
                if d == "[" || d == "(" || d == "{" { depth += 1 }
                if d == "]" || d == ")" || d == "}" { if depth == 0 { break }; depth -= 1 }
                if d == "," && depth == 0 { break }
                index += 1
            }
            return .other
        }
    }
}
