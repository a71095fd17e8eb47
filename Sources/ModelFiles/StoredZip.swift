import Foundation

/// A minimal zip archive with stored (uncompressed) entries: what `numpy.savez`
/// writes. Reads archives whose entries are stored; a deflated entry is reported.
enum StoredZip {
    static func write(_ entries: [(name: String, data: Data)]) -> Data {
        var out = Data()
        var central = Data()
        for (name, data) in entries {
            let offset = UInt32(out.count)
            let crc = crc32(data)
            let nameBytes = Array(name.utf8)
            var local = Data()
            local.append(le32(0x0403_4B50)); local.append(le16(20)); local.append(le16(0)); local.append(le16(0))
            local.append(le16(0)); local.append(le16(0x21))
            local.append(le32(crc)); local.append(le32(UInt32(data.count))); local.append(le32(UInt32(data.count)))
            local.append(le16(UInt16(nameBytes.count))); local.append(le16(0))
            local.append(contentsOf: nameBytes)
            out.append(local)
            out.append(data)
            central.append(le32(0x0201_4B50)); central.append(le16(20)); central.append(le16(20)); central.append(le16(0))
            central.append(le16(0)); central.append(le16(0)); central.append(le16(0x21))
            central.append(le32(crc)); central.append(le32(UInt32(data.count))); central.append(le32(UInt32(data.count)))
            central.append(le16(UInt16(nameBytes.count))); central.append(le16(0)); central.append(le16(0))
            central.append(le16(0)); central.append(le16(0)); central.append(le32(0)); central.append(le32(offset))
            central.append(contentsOf: nameBytes)
        }
        let centralOffset = UInt32(out.count)
        out.append(central)
        out.append(le32(0x0605_4B50)); out.append(le16(0)); out.append(le16(0))
        out.append(le16(UInt16(entries.count))); out.append(le16(UInt16(entries.count)))
        out.append(le32(UInt32(central.count))); out.append(le32(centralOffset)); out.append(le16(0))
        return out
    }

    /// The entries of an archive, by walking its local file headers.
    static func read(_ data: Data, file: String) throws -> [String: Data] {
        let bytes = [UInt8](data)
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        var entries: [String: Data] = [:]
        var i = 0
        while i + 30 <= bytes.count, u32(i) == 0x0403_4B50 {
            let flags = u16(i + 6), method = u16(i + 8), crc = UInt32(u32(i + 14))
            let size = u32(i + 18), nameLength = u16(i + 26), extraLength = u16(i + 28)
            guard i + 30 + nameLength <= bytes.count,
                  let name = String(bytes: bytes[(i + 30)..<(i + 30 + nameLength)], encoding: .utf8) else {
                throw ModelFileError.notAnArchive(file: file, reason: "truncated entry header")
            }
            guard method == 0 else {
                throw ModelFileError.notAnArchive(file: file, reason: "entry \(name) is compressed (method \(method)); only stored entries are read here")
            }
            guard flags & 0x08 == 0 else {
                throw ModelFileError.notAnArchive(file: file, reason: "entry \(name) uses a data descriptor, not supported here")
            }
            let start = i + 30 + nameLength + extraLength
            guard start + size <= bytes.count else {
                throw ModelFileError.notAnArchive(file: file, reason: "entry \(name) is truncated")
            }
            let payload = Data(bytes[start..<(start + size)])
            guard crc32(payload) == crc else {
                throw ModelFileError.notAnArchive(file: file, reason: "entry \(name) fails its CRC check")
            }
            entries[name] = payload
            i = start + size
        }
        guard !entries.isEmpty else { throw ModelFileError.notAnArchive(file: file, reason: "no zip entries found") }
        return entries
    }

    static func le16(_ v: UInt16) -> Data { Data([UInt8(v & 0xFF), UInt8(v >> 8)]) }
    static func le32(_ v: UInt32) -> Data { Data((0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) }) }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
