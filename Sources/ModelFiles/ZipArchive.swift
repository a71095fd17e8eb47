import CZlib
import Foundation

/// The zip container of an `.npz` file: what `numpy.savez` (stored entries) and
/// `numpy.savez_compressed` (deflated entries) write, including the zip64 extra
/// fields NumPy adds. Reading goes through the central directory, so entries
/// with data descriptors are found too; every entry's CRC-32 is checked.
enum ZipArchive {
    enum Method: UInt16 { case stored = 0, deflated = 8 }

    /// An archive with the given entries, stored or raw-deflated.
    static func write(_ entries: [(name: String, data: Data)], method: Method = .stored) throws -> Data {
        var out = Data()
        var central = Data()
        for (name, data) in entries {
            let payload = method == .stored ? data : try deflate(data)
            guard out.count < Int(UInt32.max) - payload.count - 1024 else {
                throw ZipError("archive larger than 4 GiB (zip64 writing is not supported)")
            }
            let offset = UInt32(out.count), crc = crc32(data), nameBytes = Array(name.utf8)
            // Version 2.0, no flags, method, DOS time/date 1980-01-01.
            let common = le16(20) + le16(0) + le16(method.rawValue) + le16(0) + le16(0x21)
                + le32(crc) + le32(UInt32(payload.count)) + le32(UInt32(data.count)) + le16(UInt16(nameBytes.count))
            out += le32(0x0403_4B50) + common + le16(0) + Data(nameBytes)
            out += payload
            central += le32(0x0201_4B50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le16(0)
                + le32(0) + le32(offset) + Data(nameBytes)
        }
        let centralOffset = UInt32(out.count)
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(UInt16(entries.count)) + le16(UInt16(entries.count))
            + le32(UInt32(central.count)) + le32(centralOffset) + le16(0)
        return out
    }

    /// One entry of an archive: its name, method, compressed payload (inside the
    /// archive's bytes), announced uncompressed size and CRC.
    struct Entry {
        let name: String
        let method: Method
        let payload: UnsafeRawBufferPointer
        let size: Int
        let crc: UInt32
    }

    /// An entry's whole uncompressed contents, CRC checked: stored entries without
    /// copying (read, then checked: see `checked`), deflated ones inflated first.
    static func withContents<T>(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        switch entry.method {
        case .stored:
            return try checked(entry) { try body(entry.payload) }
        case .deflated:
            let inflated = try inflate(entry.payload, expectedSize: entry.size, entry: entry.name)
            return try inflated.withUnsafeBytes { bytes in
                guard crc32(bytes) == entry.crc else { throw ZipError("entry \(entry.name) fails its CRC check") }
                return try body(bytes)
            }
        }
    }

    /// The entries of an archive, located from its central directory without reading
    /// their payloads.
    static func entries(in archive: UnsafeRawBufferPointer) throws -> [Entry] {
        let reader = ByteReader(bytes: archive)
        let directory = try reader.centralDirectory()
        var position = directory.offset
        var out: [Entry] = []
        for _ in 0..<directory.count {
            guard try reader.u32(position) == 0x0201_4B50 else { throw ZipError("central directory entry is damaged") }
            let method = try reader.u16(position + 10), crc = UInt32(try reader.u32(position + 16))
            var compressed = try reader.u32(position + 20), size = try reader.u32(position + 24)
            let nameLength = try reader.u16(position + 28), extraLength = try reader.u16(position + 30)
            let commentLength = try reader.u16(position + 32)
            var localOffset = try reader.u32(position + 42)
            let name = try reader.text(position + 46, nameLength)
            // Zip64: the extra field holds, in order, those of (size, compressed,
            // offset) that the fixed fields mark as 0xFFFFFFFF.
            var extra = position + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let tag = try reader.u16(extra), length = try reader.u16(extra + 2)
                if tag == 1 {
                    var field = extra + 4
                    if size == 0xFFFF_FFFF { size = try reader.u64(field); field += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = try reader.u64(field); field += 8 }
                    if localOffset == 0xFFFF_FFFF { localOffset = try reader.u64(field) }
                }
                extra += 4 + length
            }
            guard try reader.u32(localOffset) == 0x0403_4B50 else { throw ZipError("entry \(name): local header missing") }
            let start = localOffset + 30 + (try reader.u16(localOffset + 26)) + (try reader.u16(localOffset + 28))
            guard start <= archive.count, compressed <= archive.count - start else {
                throw ZipError("entry \(name) is truncated (\(compressed) bytes announced)")
            }
            let payload = UnsafeRawBufferPointer(rebasing: archive[start..<(start + compressed)])
            guard let kind = Method(rawValue: UInt16(method)) else {
                throw ZipError("entry \(name) uses compression method \(method); only stored (0) and deflated (8) are read")
            }
            if kind == .stored && compressed != size { throw ZipError("stored entry \(name) has unequal sizes") }
            // Deflate expands at most 1032:1; a larger announced size is a lie, not a size to plan for.
            if kind == .deflated && size > 1032 * compressed + 64 {
                throw ZipError("entry \(name) announces \(size) bytes from \(compressed) compressed bytes, more than deflate can produce")
            }
            // Readers look entries up by name: a second entry of one name would make them disagree.
            if out.contains(where: { $0.name == name }) { throw ZipError("entry \(name) appears twice") }
            out.append(Entry(name: name, method: kind, payload: payload, size: size, crc: crc))
            position = extraEnd + commentLength
        }
        return out
    }

    /// Byte ranges [offset, offset + count) of an entry's uncompressed contents, in
    /// increasing order and disjoint. Stored entries are sliced from the mapped archive;
    /// deflated ones are inflated in 1 MiB pieces from the start, keeping only the
    /// ranges and stopping after the last one, so memory stays at the ranges' size.
    /// (The CRC covers the whole entry: `checkCRC` reads it all.)
    static func ranges(of entry: Entry, _ ranges: [(offset: Int, count: Int)]) throws -> [[UInt8]] {
        guard let end = ranges.map({ $0.offset + $0.count }).max() else { return [] }
        guard end <= entry.size else { throw ZipError("entry \(entry.name) is shorter (\(entry.size) bytes) than its header says") }
        if entry.method == .stored {
            return ranges.map { Array(entry.payload[$0.offset..<($0.offset + $0.count)]) }
        }
        var out = ranges.map { [UInt8](repeating: 0, count: $0.count) }
        try forEachPiece(of: entry, upTo: end) { piece, produced in
            for (i, r) in ranges.enumerated() {
                let lo = max(r.offset, produced), hi = min(r.offset + r.count, produced + piece.count)
                if lo < hi { out[i].replaceSubrange((lo - r.offset)..<(hi - r.offset), with: piece[(lo - produced)..<(hi - produced)]) }
            }
        }
        return out
    }

    /// Checks an entry's CRC-32 and size over its whole uncompressed contents, streamed
    /// (1 MiB pieces for deflated entries), so that a shard reading some rows of an array
    /// still refuses a damaged array. With `releasingPages` (the entry lies in a
    /// `ModelFile.mapped` file) the payload's pages, stored or compressed, are dropped from the
    /// resident set every `releaseBytes` once read, so memory stays flat whatever the entry's
    /// size; only the mapped payload is released, never the inflated pieces (heap memory).
    static func checkCRC(of entry: Entry, releasingPages: Bool = false, releaseBytes: Int = 1 << 24) throws {
        var crc: uLong = CZlib.crc32(0, nil, 0)
        var total = 0
        func add(_ bytes: UnsafeRawBufferPointer) {
            var offset = 0
            while offset < bytes.count {
                let n = min(bytes.count - offset, 1 << 30)
                crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
                offset += n
            }
            total += bytes.count
        }
        // The payload's bytes below `released` are dropped; pages that straddle two releases stay.
        var released = 0
        func release(upTo read: Int) {
            guard releasingPages, read - released >= releaseBytes || (read == entry.payload.count && read > released) else { return }
            ModelFile.releasePages(UnsafeRawBufferPointer(rebasing: entry.payload[released..<read]))
            released = read
        }
        switch entry.method {
        case .stored:
            let step = releasingPages ? max(releaseBytes, 1) : max(entry.payload.count, 1)
            for offset in stride(from: 0, to: entry.payload.count, by: step) {
                let end = min(entry.payload.count, offset + step)
                add(UnsafeRawBufferPointer(rebasing: entry.payload[offset..<end]))
                release(upTo: end)
            }
        case .deflated:
            try forEachPiece(of: entry, upTo: nil, consumed: release) { piece, _ in piece.withUnsafeBytes { add(UnsafeRawBufferPointer($0)) } }
            release(upTo: entry.payload.count)
        }
        guard total == entry.size else { throw ZipError("entry \(entry.name) holds \(total) bytes, not the \(entry.size) its directory announces") }
        guard UInt32(crc) == entry.crc else { throw ZipError("entry \(entry.name) fails its CRC check") }
    }

    /// `read()` (what is taken from the entry), then the entry's CRC over its whole contents: a
    /// mapped file rewritten while it is read fails the check after the read, where a check made
    /// first would pass and the read would see the new bytes. Where `read` throws, a failed CRC
    /// is reported instead (the damage is the cause).
    static func checked<T>(_ entry: Entry, releasingPages: Bool = false, _ read: () throws -> T) throws -> T {
        let value: T
        do { value = try read() } catch {
            try checkCRC(of: entry, releasingPages: releasingPages)
            throw error
        }
        try checkCRC(of: entry, releasingPages: releasingPages)
        return value
    }

    /// Inflates a deflated entry from the start in 1 MiB pieces, calling `body(piece,
    /// offset of its first byte)`, until `end` bytes were produced (nil: the whole stream);
    /// `consumed` hears how many bytes of the compressed payload were read after each piece.
    static func forEachPiece(of entry: Entry, upTo end: Int?, consumed: (Int) -> Void = { _ in },
                             _ body: (ArraySlice<UInt8>, Int) throws -> Void) throws {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ZipError("zlib could not start inflating \(entry.name)")
        }
        defer { inflateEnd(&stream) }
        let piece = 1 << 20
        var buffer = [UInt8](repeating: 0, count: piece)
        var produced = 0, inLeft = entry.payload.count
        stream.next_in = UnsafeMutablePointer(mutating: entry.payload.baseAddress?.assumingMemoryBound(to: Bytef.self))
        var ended = false
        while end.map({ produced < $0 }) ?? true {
            let inChunk = min(inLeft, Int(UInt32.max))
            stream.avail_in = uInt(inChunk)
            let (status, got): (Int32, Int) = buffer.withUnsafeMutableBytes { out in
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(piece)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                return (status, piece - Int(stream.avail_out))
            }
            inLeft -= inChunk - Int(stream.avail_in)
            if got > 0 { try body(buffer[0..<got], produced) }
            consumed(entry.payload.count - inLeft)
            produced += got
            if status == Z_STREAM_END { ended = true; break }
            guard status == Z_OK, got > 0 || inChunk > 0 else {
                throw ZipError("entry \(entry.name): deflate stream is corrupt")
            }
            // Deflate expands at most 1032:1: more output than that is a corrupt stream.
            guard produced <= 1032 * entry.payload.count + 64 else { throw ZipError("entry \(entry.name): deflate stream is corrupt") }
        }
        if let end {
            guard produced >= end else { throw ZipError("entry \(entry.name): deflate stream ends after \(produced) bytes, before \(end)") }
        } else if !ended {
            throw ZipError("entry \(entry.name): deflate stream is corrupt")
        }
    }

    struct ByteReader {
        let bytes: UnsafeRawBufferPointer

        func u16(_ i: Int) throws -> Int {
            guard i >= 0, i <= bytes.count - 2 else { throw ZipError("truncated (read past the end at byte \(i))") }
            return Int(bytes[i]) | Int(bytes[i + 1]) << 8
        }

        func u32(_ i: Int) throws -> Int { try u16(i) | (try u16(i + 2)) << 16 }

        func u64(_ i: Int) throws -> Int {
            let value = UInt64(try u32(i)) | UInt64(try u32(i + 4)) << 32
            guard value < UInt64(Int.max) else { throw ZipError("64-bit field out of range") }
            return Int(value)
        }

        func text(_ i: Int, _ n: Int) throws -> String {
            guard i >= 0, n <= bytes.count - i, let s = String(bytes: bytes[i..<(i + n)], encoding: .utf8) else {
                throw ZipError("entry name unreadable")
            }
            return s
        }

        /// (entry count, central directory offset), from the end-of-central-
        /// directory record and, when its fields overflow, the zip64 record.
        func centralDirectory() throws -> (count: Int, offset: Int) {
            guard bytes.count >= 22 else { throw ZipError("too short to be a zip archive (\(bytes.count) bytes)") }
            var end = bytes.count - 22
            let lowest = max(0, bytes.count - 22 - 65_535)
            while end >= lowest, try u32(end) != 0x0605_4B50 { end -= 1 }
            guard end >= lowest else { throw ZipError("no end-of-central-directory record (truncated, or not a zip archive)") }
            var count = try u16(end + 10), offset = try u32(end + 16)
            if count == 0xFFFF || offset == 0xFFFF_FFFF {
                guard end >= 20, try u32(end - 20) == 0x0706_4B50 else { throw ZipError("zip64 locator missing") }
                let record = try u64(end - 12)
                guard try u32(record) == 0x0606_4B50 else { throw ZipError("zip64 end record missing") }
                count = try u64(record + 32)
                offset = try u64(record + 48)
            }
            guard count > 0 else { throw ZipError("the archive has no entries") }
            guard offset < bytes.count else { throw ZipError("central directory offset \(offset) lies past the end") }
            return (count, offset)
        }
    }

    /// `expectedSize` is an entry's announced size, which `entries` has checked against what
    /// deflate can produce from `input` before anything is allocated for it.
    static func inflate(_ input: UnsafeRawBufferPointer, expectedSize: Int, entry: String) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: expectedSize)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ZipError("zlib could not start inflating \(entry)")
        }
        defer { inflateEnd(&stream) }
        let status: Int32 = output.withUnsafeMutableBytes { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
            var status = Z_OK
            var inLeft = input.count, outLeft = out.count
            while status == Z_OK {
                let inChunk = min(inLeft, Int(UInt32.max)), outChunk = min(outLeft, Int(UInt32.max))
                stream.avail_in = uInt(inChunk)
                stream.avail_out = uInt(outChunk)
                status = CZlib.inflate(&stream, Z_NO_FLUSH)
                inLeft -= inChunk - Int(stream.avail_in)
                outLeft -= outChunk - Int(stream.avail_out)
                if status == Z_OK && inChunk == 0 { status = Z_BUF_ERROR }
                if status == Z_OK && outChunk == 0 { status = Z_BUF_ERROR }
            }
            return status == Z_STREAM_END && outLeft == 0 ? Z_OK : status
        }
        guard status == Z_OK else {
            throw ZipError("entry \(entry): deflate stream is corrupt or its size differs from the \(expectedSize) bytes announced")
        }
        return output
    }

    static func deflate(_ data: Data) throws -> Data {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ZipError("zlib could not start deflating")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(data.count))) + 64)
        let produced: Int = try data.withUnsafeBytes { input in
            try output.withUnsafeMutableBytes { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                guard CZlib.deflate(&stream, Z_FINISH) == Z_STREAM_END else { throw ZipError("deflate did not finish") }
                return out.count - Int(stream.avail_out)
            }
        }
        return Data(output[0..<produced])
    }

    static func crc32(_ data: Data) -> UInt32 { data.withUnsafeBytes { crc32($0) } }

    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: uLong = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
            offset += n
        }
        return UInt32(crc)
    }

    static func le16(_ v: UInt16) -> Data { Data([UInt8(v & 0xFF), UInt8(v >> 8)]) }
    static func le32(_ v: UInt32) -> Data { Data((0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) }) }
}

/// A problem with the zip container; `ModelFile` attaches the file name.
struct ZipError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
