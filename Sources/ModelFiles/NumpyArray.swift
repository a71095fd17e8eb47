import Foundation

/// A float64 array as NumPy stores it in a `.npy` file (format version 1.0).
public struct NumpyArray: Equatable, Sendable {
    public let shape: [Int]
    public let values: [Double]

    public init(shape: [Int], values: [Double]) {
        precondition(shape.reduce(1, *) == values.count, "NumpyArray: shape does not match the value count")
        self.shape = shape
        self.values = values
    }

    /// The `.npy` bytes: magic, version 1.0, a header dict padded to a multiple of 64
    /// bytes, then the values as little-endian float64 in C order.
    public var npyData: Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        for v in values {
            withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Parses `.npy` bytes written as float64, little-endian, C order.
    public init(npy data: Data, file: String, array: String) throws {
        func fail(_ reason: String) -> ModelFileError { .badArray(file: file, array: array, reason: reason) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy array (bad magic)")
        }
        let major = bytes[6]
        let headerStart = major == 1 ? 10 : 12
        guard major >= 1 && major <= 3, bytes.count >= headerStart else { throw fail("unsupported .npy version \(major)") }
        let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard bytes.count >= headerStart + headerLength,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw fail("truncated header")
        }
        guard header.contains("'descr': '<f8'") else { throw fail("unsupported dtype (only little-endian float64 here): \(header)") }
        guard header.contains("'fortran_order': False") else { throw fail("Fortran order is not supported here") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw fail("header has no shape")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let shape = try dims.map { text -> Int in
            guard let n = Int(text), n >= 0 else { throw fail("bad dimension '\(text)' in shape") }
            return n
        }
        let count = shape.reduce(1, *)
        let start = headerStart + headerLength
        guard bytes.count - start == count * 8 else {
            throw fail("header says \(count) values (\(shape)) but the file holds \((bytes.count - start) / 8)")
        }
        var values = [Double](repeating: 0, count: count)
        for i in 0..<count {
            var bits: UInt64 = 0
            for b in 0..<8 { bits |= UInt64(bytes[start + 8 * i + b]) << (8 * b) }
            values[i] = Double(bitPattern: bits)
        }
        self.init(shape: shape, values: values)
    }
}
