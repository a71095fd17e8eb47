import Foundation
import Numerics
import Testing
import Theory
@testable import ModelFiles

func temporaryURL(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("lb-mf-\(UInt32.random(in: 0...UInt32.max))-\(name)")
}

func fixture(_ name: String) -> URL {
    Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!
}

/// The arrays the NumPy fixtures hold (see Fixtures/README.md): exact in float16.
let fixtureF: [Double] = (0..<15).map { (Double($0) - 7) / 8 }
let fixtureG: [Double] = (0..<12).map { Double(($0 * 3) % 7 - 3) / 4 }

/// `value` as stored at `precision` and read back.
func rounded(_ value: Double, _ precision: NumpyFormat.Precision) -> Double {
    switch precision {
    case .float64: return value
    case .float32: return Double(Float(value))
    case .float16: return Double(Float16(value))
    }
}

@Suite("Model files: formats")
struct ModelFileFormatTests {
    @Test("Every dtype, byte order, memory order and header version round-trips, stored and deflated")
    func everyFormatRoundTrips() throws {
        var g = SeededGenerator(seed: 11)
        let values = (0..<24).map { _ in g.gaussian() * 3 }
        for shape in [[24], [4, 6], [2, 3, 4]] {
            let array = NumpyArray(shape: shape, values: values)
            for format in NumpyFormat.all {
                let back = try NumpyArray(npy: array.npyData(format), file: "mem", array: "a")
                #expect(back.shape == shape, "\(format)")
                #expect(back.values == values.map { rounded($0, format.precision) }, "\(format), shape \(shape)")
            }
        }
        let model = ModelGenerator.model(labels: 6, dimension: 3, inputs: 10, using: &g)
        for compressed in [false, true] {
            for format in [NumpyFormat(), NumpyFormat(precision: .float32, bigEndian: true, fortranOrder: true, version: 2)] {
                let url = temporaryURL("rt.npz")
                defer { try? FileManager.default.removeItem(at: url) }
                try ModelFile.write(model, to: url, format: format, compressed: compressed)
                let back = try ModelFile.read(url)
                #expect(back.embeddings.storage == model.embeddings.storage.map { rounded($0, format.precision) })
                #expect(back.unembeddings.storage == model.unembeddings.storage.map { rounded($0, format.precision) })
            }
        }
    }

    @Test("A model written and read back keeps its given weights, so its exact level is unchanged")
    func givenWeightsRoundTrip() throws {
        let given: [Double] = [1, 2, 4e8 + 1, 7, 0x1p-30, 3]
        var g = SeededGenerator(seed: 5)
        let model = ModelGenerator.model(labels: 4, dimension: 2, inputs: 6, using: &g)
        let weighted = try SoftmaxModel(embeddings: model.embeddings, unembeddings: model.unembeddings, weights: given)
        let url = temporaryURL("given.npz")
        defer { try? FileManager.default.removeItem(at: url) }
        try ModelFile.write(weighted, to: url)
        let read = try ModelFile.read(url)
        #expect(read.givenWeights == given)
        #expect(read.weights == weighted.weights)
        #expect(try ExactModel(read).weights == ExactModel(weighted).weights)
    }

    @Test("Fortran order puts the first index fastest", arguments: [[3, 4], [2, 3, 4], [5, 1, 2]])
    func fortranOrderLayout(shape: [Int]) throws {
        let count = shape.reduce(1, *)
        let values = (0..<count).map(Double.init)
        let fortran = NumpyArray.reorder(values, shape: shape, toFortran: true)
        // Element with C index (i, j, …) sits at Σ index_a · Π_{b<a} shape_b.
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<count {
            var offset = 0, stride = 1
            for a in 0..<shape.count { offset += index[a] * stride; stride *= shape[a] }
            #expect(fortran[offset] == values[c])
            var a = shape.count - 1
            while a >= 0 { index[a] += 1; if index[a] < shape[a] { break }; index[a] = 0; a -= 1 }
        }
        #expect(NumpyArray.reorder(fortran, shape: shape, toFortran: false) == values)
    }

    @Test("Files written by NumPy read with the values NumPy wrote", arguments: [
        ("numpy_savez_f8.npz", true), ("numpy_compressed_f4_fortran_bigendian.npz", false),
        ("numpy_compressed_f2.npz", true), ("numpy_v2_v3_headers.npz", false),
        ("python_zip64_data_descriptor.npz", false),
    ])
    func numpyFixtures(name: String, hasWeights: Bool) throws {
        let model = try ModelFile.read(fixture(name))
        #expect(model.embeddings.rows == 5 && model.embeddings.columns == 3)
        #expect(model.embeddings.storage == fixtureF)
        #expect(model.unembeddings.storage == fixtureG)
        let expectedWeights = hasWeights ? [1.0, 2, 3, 4, 6].map { $0 / 16 } : Array(repeating: 0.2, count: 5)
        #expect(model.weights == expectedWeights)
    }

    @Test("A header is parsed as a dictionary: any key order, spacing, long-int suffixes")
    func headerParser() throws {
        let h = try NpyHeader(parsing: "{ 'shape':(3L,4) ,'fortran_order' :True,'descr':'>f4'}")
        #expect(h.shape == [3, 4] && h.fortranOrder && h.descr == ">f4" && h.bigEndian)
        #expect(try NpyHeader(parsing: "{'descr': '<f8', 'fortran_order': False, 'shape': (), }").shape == [])
        #expect(throws: NpyHeader.ParseError.self) { try NpyHeader(parsing: "{'descr': '<f8', 'shape': (3,)}") }
        #expect(throws: NpyHeader.ParseError.self) { try NpyHeader(parsing: "{'descr': '<f8', 'fortran_order': False, 'shape': (3, x)}") }
        #expect(throws: NpyHeader.ParseError.self) { try NpyHeader(parsing: "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,)}") }
    }
}

@Suite("Model files: bad input")
struct ModelFileBadInputTests {
    let model: SoftmaxModel = {
        var g = SeededGenerator(seed: 5)
        return ModelGenerator.model(labels: 4, dimension: 2, inputs: 6, using: &g)
    }()

    func archive(_ arrays: [(String, NumpyArray)]) throws -> URL {
        let url = temporaryURL("bad.npz")
        try ModelFile.write(arrays: arrays, to: url)
        return url
    }

    var f: NumpyArray { NumpyArray(shape: [6, 2], values: model.embeddings.storage) }
    var g: NumpyArray { NumpyArray(shape: [4, 2], values: model.unembeddings.storage) }

    /// np.savez(..., f=f, g=g, y=labels, names=...) was refused for the int64 / string
    /// arrays a model never needs: only f, g and w are read.
    @Test("Arrays other than f, g and w (int64 labels, strings) are ignored")
    func extraArrays() throws {
        func npy(_ descr: String, shape: String, payload: [UInt8]) -> Data {
            var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
            while (10 + header.count + 1) % 64 != 0 { header.append(0x20) }
            header.append(0x0A)
            return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header + payload)
        }
        let labels = npy("<i8", shape: "(6,)", payload: (0..<6).flatMap { i -> [UInt8] in (0..<8).map { UInt8(($0 == 0 ? i : 0)) } })
        let names = npy("<U1", shape: "(2,)", payload: [0x61, 0, 0, 0, 0x62, 0, 0, 0])
        let url = temporaryURL("extra.npz")
        defer { try? FileManager.default.removeItem(at: url) }
        try ZipArchive.write([("f.npy", f.npyData()), ("g.npy", g.npyData()), ("y.npy", labels), ("names.npy", names)]).write(to: url)
        let read = try ModelFile.read(url)
        #expect(read.embeddings == model.embeddings && read.unembeddings == model.unembeddings)
    }

    @Test("Each bad array is named with its problem")
    func badArrays() throws {
        var withNaN = model.embeddings
        withNaN[4, 1] = .nan
        var withInf = model.unembeddings
        withInf[2, 0] = -.infinity
        let cases: [([(String, NumpyArray)], String, String)] = [
            ([("f", NumpyArray(shape: [6, 2], values: withNaN.storage)), ("g", g)], "f", "entry [4, 1] is nan; every entry must be finite"),
            ([("f", f), ("g", NumpyArray(shape: [4, 2], values: withInf.storage))], "g", "entry [2, 0] is -inf; every entry must be finite"),
            ([("f", f), ("g", g), ("w", NumpyArray(shape: [6], values: [1, 1, 0, 1, 1, 1]))], "w", "entry [2] is 0.0; every weight must be finite and > 0"),
            ([("f", f), ("g", g), ("w", NumpyArray(shape: [6], values: [1, 1, 1, 1, -2, 1]))], "w", "entry [4] is -2.0; every weight must be finite and > 0"),
            ([("f", f), ("g", g), ("w", NumpyArray(shape: [5], values: [1, 1, 1, 1, 1]))], "w", "must have shape (6,) to match f, has [5]"),
            ([("f", NumpyArray(shape: [12], values: model.embeddings.storage)), ("g", g)], "f", "must be 2-D (N×d), has shape [12]"),
        ]
        for (arrays, name, reason) in cases {
            let url = try archive(arrays)
            defer { try? FileManager.default.removeItem(at: url) }
            #expect(throws: ModelFileError.badArray(file: url.path, array: name, reason: reason)) { try ModelFile.read(url) }
        }
        let missing = try archive([("f", f)])
        defer { try? FileManager.default.removeItem(at: missing) }
        #expect(throws: ModelFileError.missingArray(file: missing.path, array: "g")) { try ModelFile.read(missing) }
        let mismatch = try archive([("f", f), ("g", NumpyArray(shape: [2, 4], values: model.unembeddings.storage))])
        defer { try? FileManager.default.removeItem(at: mismatch) }
        #expect(throws: ModelFileError.badModel(file: mismatch.path, reason: "f has d = 2 columns but g has 4")) { try ModelFile.read(mismatch) }
    }

    @Test("Unsupported dtypes say what they are", arguments: [
        ("numpy_complex.npz", "complex"), ("numpy_object.npz", "Python object"), ("numpy_int.npz", "signed integer"),
    ])
    func unsupportedDtypes(name: String, kind: String) throws {
        do {
            _ = try ModelFile.read(fixture(name))
            Issue.record("\(name) was accepted")
        } catch let ModelFileError.badArray(_, array, reason) {
            #expect(array == "f")
            #expect(reason.contains(kind), "\(reason)")
        }
    }

    @Test("Truncated data, a lying header and a broken archive are errors, not crashes")
    func brokenBytes() throws {
        let npy = f.npyData()
        func reason(_ data: Data) -> String? {
            do { _ = try NumpyArray(npy: data, file: "x.npz", array: "f"); return nil } catch let e as ModelFileError {
                if case let .badArray(_, _, r) = e { return r }
                return "\(e)"
            } catch { return "unexpected \(error)" }
        }
        #expect(reason(npy.dropLast(5))?.hasPrefix("truncated data") == true)
        var lying = npy
        lying.replaceSubrange(lying.range(of: Data("(6, 2)".utf8))!, with: Data("(5, 2)".utf8))
        #expect(reason(lying)?.contains("header says shape [5, 2]") == true)
        #expect(reason(npy.prefix(9))?.contains("bad magic") == true)
        #expect(reason(npy.prefix(40))?.contains("truncated header") == true)
        let url = try archive([("f", f), ("g", g)])
        defer { try? FileManager.default.removeItem(at: url) }
        let good = try Data(contentsOf: url)
        for broken in [good.prefix(good.count / 2), Data("not a zip".utf8), Data()] {
            let u = temporaryURL("broken.npz")
            defer { try? FileManager.default.removeItem(at: u) }
            try broken.write(to: u)
            #expect(throws: ModelFileError.self) { try ModelFile.read(u) }
        }
        var flipped = good
        flipped[100] ^= 0xFF
        let u = temporaryURL("crc.npz")
        defer { try? FileManager.default.removeItem(at: u) }
        try flipped.write(to: u)
        #expect(throws: ModelFileError.notAnArchive(file: u.path, reason: "entry f.npy fails its CRC check")) { try ModelFile.read(u) }
        #expect(throws: ModelFileError.unreadable(file: "/nonexistent.npz", reason: "no such file")) {
            try ModelFile.read(URL(fileURLWithPath: "/nonexistent.npz"))
        }
    }

    /// A symbolic link is followed; one to itself or to nothing is refused by what it is (both
    /// were called "not a regular file (a device, pipe or socket)").
    @Test("Symbolic links: followed to a model file; a loop and a link to nothing named as such")
    func symbolicLinks() throws {
        let target = temporaryURL("target.npz"), link = temporaryURL("link.npz")
        let loop = temporaryURL("loop.npz"), dangling = temporaryURL("dangling.npz")
        defer { for u in [target, link, loop, dangling] { try? FileManager.default.removeItem(at: u) } }
        try ModelFile.write(arrays: [("f", f), ("g", g)], to: target)
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: target.path)
        try FileManager.default.createSymbolicLink(atPath: loop.path, withDestinationPath: loop.path)
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: temporaryURL("absent.npz").path)
        #expect(try ModelFile.shape(link) == ModelFile.shape(target))
        // "file/" names a directory, which a file is not (it was read as the file).
        #expect(throws: ModelFileError.unreadable(file: target.path + "/", reason: "not a directory: a file's name followed by \"/\"")) {
            try ModelFile.read(URL(fileURLWithPath: target.path + "/"))
        }
        #expect(throws: ModelFileError.unreadable(file: loop.path, reason: "a loop of symbolic links")) { try ModelFile.read(loop) }
        #expect(throws: ModelFileError.unreadable(file: dangling.path, reason: "a symbolic link to a file that does not exist")) {
            try ModelFile.read(dangling)
        }
    }

    @Test("shape reads N, d and k from the headers alone, with read's errors; duplicate entries and impossible deflate sizes are refused")
    func shapeFromHeaders() throws {
        var checked = 0
        for format in [NumpyFormat(), NumpyFormat(precision: .float16, fortranOrder: true)] {
            for compressed in [false, true] {
                let url = temporaryURL("shape.npz")
                defer { try? FileManager.default.removeItem(at: url) }
                try ModelFile.write(arrays: [("f", f), ("g", g), ("w", NumpyArray(shape: [6], values: [1, 2, 3, 4, 5, 6]))], to: url, format: format, compressed: compressed)
                #expect(try ModelFile.shape(url) == ModelShape(inputs: 6, dimension: 2, labels: 4, weighted: true))
                try ModelFile.write(arrays: [("f", f), ("g", g)], to: url, format: format, compressed: compressed)
                #expect(try ModelFile.shape(url) == ModelShape(inputs: 6, dimension: 2, labels: 4, weighted: false))
                checked += 1
            }
        }
        #expect(checked == 4)
        func refusal(_ entries: [(name: String, data: Data)], method: ZipArchive.Method = .stored) throws -> String {
            let url = temporaryURL("bad-shape.npz")
            defer { try? FileManager.default.removeItem(at: url) }
            try ZipArchive.write(entries, method: method).write(to: url)
            do { _ = try ModelFile.shape(url); return "accepted" } catch let e as ModelFileError { return e.description }
        }
        let (fData, gData) = (f.npyData(), g.npyData())
        #expect(try refusal([("f.npy", fData), ("g.npy", gData), ("w.npy", NumpyArray(shape: [5], values: [1, 1, 1, 1, 1]).npyData())]).contains("must have shape (6,) to match f"))
        #expect(try refusal([("f.npy", fData), ("g.npy", gData), ("f.npy", fData)]).contains("entry f.npy appears twice"))
        #expect(try refusal([("f.npy", fData)]).hasSuffix(ModelFileError.missingArray(file: "", array: "g").description.dropFirst(2)))
        #expect(try refusal([("f.npy", fData), ("g.npy", NumpyArray(shape: [4, 3], values: Array(repeating: 0, count: 12)).npyData())]).contains("f has d = 2 columns but g has 3"))
        // A deflated entry announcing far more than its compressed bytes can hold: its size field raised.
        var bomb = try ZipArchive.write([("f.npy", fData), ("g.npy", gData)], method: .deflated)
        let central = try #require(bomb.range(of: Data([0x50, 0x4B, 0x01, 0x02]))).lowerBound
        bomb.replaceSubrange((central + 24)..<(central + 28), with: Data([0, 0, 0, 0x40]))
        let url = temporaryURL("bomb.npz")
        defer { try? FileManager.default.removeItem(at: url) }
        try bomb.write(to: url)
        #expect(throws: ModelFileError.self) { try ModelFile.shape(url) }
        do { _ = try ModelFile.shape(url) } catch let e as ModelFileError { #expect(e.description.contains("more than deflate can produce"), "\(e)") }
    }

    /// Seeded mutation fuzzing: byte flips, overwrites with boundary values,
    /// truncations, insertions and deletions of valid stored and deflated
    /// archives. Each mutant either reads or throws `ModelFileError`; a crash
    /// fails the run. (notes/benchmarks.md records longer runs.)
    @Test("Mutated archives never crash the reader")
    func mutationFuzz() throws {
        var fuzzer = try ModelFileFuzzer(seed: 2026)
        let count = try fuzzer.run(iterations: 3_000)
        #expect(count.rejected + count.accepted == 3_000)
        #expect(count.rejected > 1_000)
    }
}

@Suite("Reading a shard's rows of a model file")
struct ModelFileRowTests {
    /// The resident KiB of the mapping that holds `address` (/proc/self/smaps): this mapping's
    /// alone, whatever other tests hold.
    static func residentKiB(ofMappingHolding address: UnsafeRawPointer) throws -> Int {
        // Read to its end (its size reads as 0, so a sized read would stop short).
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        let target = UInt(bitPattern: address)
        var inMapping = false
        for line in smaps.split(separator: "\n") {
            let range = line.split(separator: " ").first?.split(separator: "-").compactMap { UInt($0, radix: 16) } ?? []
            if range.count == 2, !line.hasSuffix(":") {
                inMapping = range[0] <= target && target < range[1]
            } else if inMapping, line.hasPrefix("Rss:") {
                return Int(line.split(separator: " ")[1])!
            }
        }
        throw ModelFileError.unreadable(file: "/proc/self/smaps", reason: "no mapping holds \(String(target, radix: 16))")
    }

    /// A shard checks the CRC of the whole f, which touched every page of the mapped file: one
    /// row of a 200 000-row file held 46 MiB of it resident (stop 54). The pages are dropped as
    /// they are read, stored or deflated, so the mapping's resident set stays near what the shard
    /// reads. Releases every 1 MiB here, so that the 16 MiB f is released in many steps.
    @Test("A shard's CRC check leaves the mapped file's pages out of the resident set, stored or deflated")
    func crcCheckReleasesPages() throws {
        var g = SeededGenerator(seed: 54)
        let n = 8192, d = 256   // f: 16 MiB of Gaussians, which deflate hardly shrinks
        let f = g.gaussianMatrix(rows: n, columns: d)
        let model = try SoftmaxModel(embeddings: f, unembeddings: g.gaussianMatrix(rows: 5, columns: d))
        var checked = 0
        for compressed in [false, true] {
            let url = temporaryURL(compressed ? "pages-z.npz" : "pages.npz")
            defer { try? FileManager.default.removeItem(at: url) }
            try ModelFile.write(model, to: url, compressed: compressed)
            var resident: [Bool: (kib: Int, payload: Int)] = [:]
            for releasing in [true, false] {
                let data = try ModelFile.mapped(url)
                resident[releasing] = try data.withUnsafeBytes { bytes in
                    let entry = try #require(try ZipArchive.entries(in: bytes).first { $0.name == "f.npy" })
                    try ZipArchive.checkCRC(of: entry, releasingPages: releasing, releaseBytes: 1 << 20)
                    return (try Self.residentKiB(ofMappingHolding: entry.payload.baseAddress!), entry.payload.count / 1024)
                }
            }
            let (kept, dropped) = (try #require(resident[false]), try #require(resident[true]))
            #expect(kept.payload > 14 * 1024, "f's payload: \(kept.payload) KiB")
            #expect(dropped.kib < kept.payload / 8 && kept.kib > kept.payload * 9 / 10,
                    "compressed \(compressed): resident KiB \(dropped.kib) released, \(kept.kib) kept, of a \(kept.payload) KiB payload")
            checked += 1
        }
        #expect(checked == 2)
        // The shard's own path (its default release step): the row read and g add a few pages
        // (2 MiB here: the page cache's large folios), not f's 16 MiB.
        let url = temporaryURL("pages-rows.npz")
        defer { try? FileManager.default.removeItem(at: url) }
        try ModelFile.write(model, to: url)
        let data = try ModelFile.mapped(url)
        let rows = try ModelFile.readRows(data, file: url.path, shard: 1, of: n, releasingPages: true)
        #expect(rows.model.embeddings.storage == Array(f.storage[0..<d]))
        let kib = try data.withUnsafeBytes { try Self.residentKiB(ofMappingHolding: $0.baseAddress!) }
        #expect(kib < 8 * 1024, "resident KiB after a one-row shard: \(kib)")
    }

    /// A file rewritten in place while a shard read it gave a partial of neither file that named
    /// the first file's CRC (stop 54's attack): the CRC was checked before the rows were read. Now
    /// read, then checked; here the "rewrite" lands inside the read.
    @Test("An entry changed while it is read fails its CRC check, stored or deflated")
    func changedWhileRead() throws {
        var checked = 0
        for compressed in [false, true] {
            var bytes = [UInt8](try ZipArchive.write([("f.npy", NumpyArray(shape: [64], values: (0..<64).map(Double.init)).npyData())],
                                                     method: compressed ? .deflated : .stored))
            try bytes.withUnsafeMutableBytes { archive in
                let entry = try #require(try ZipArchive.entries(in: UnsafeRawBufferPointer(archive)).first)
                let first = try ZipArchive.checked(entry) { entry.payload.count }      // unchanged: passes
                #expect(first == entry.payload.count)
                #expect(throws: ZipError.self) {
                    try ZipArchive.checked(entry) {
                        let byte = UnsafeMutableRawPointer(mutating: entry.payload.baseAddress!) + (entry.payload.count - 3)
                        byte.storeBytes(of: byte.load(as: UInt8.self) ^ 0xFF, as: UInt8.self)
                    }
                }
            }
            checked += 1
        }
        #expect(checked == 2)
    }

    @Test("readRows gives exactly the rows read gives, in every layout", arguments: NumpyFormat.all.filter { $0.version != 2 })
    func rowsMatchWholeRead(format: NumpyFormat) throws {
        var g = SeededGenerator(seed: 9)
        let model = ModelGenerator.model(labels: 6, dimension: 3, inputs: 23, weights: (0..<23).map { _ in 1 + g.uniform() }, using: &g)
        for compressed in [false, true] {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("rows-\(UInt32.random(in: 0...UInt32.max)).npz")
            defer { try? FileManager.default.removeItem(at: url) }
            try ModelFile.write(model, to: url, format: format, compressed: compressed)
            let whole = try ModelFile.read(url)
            var covered = 0
            for i in 1...4 {
                let part = try ModelFile.readRows(url, shard: i, of: 4)
                #expect(part.totalInputs == 23 && part.rows.lowerBound == covered)
                covered = part.rows.upperBound
                #expect(part.model.embeddings.storage == whole.embeddings.selectingRows(Array(part.rows)).storage)
                #expect(part.model.unembeddings.storage == whole.unembeddings.storage)
                let raw = try #require(part.rawWeights)
                let wholeRaw = try ModelFile.readArrays(url)["w"]!.values
                #expect(raw == Array(wholeRaw[part.rows]))
            }
            #expect(covered == 23)
        }
    }
}
