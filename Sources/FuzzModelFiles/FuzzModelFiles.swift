import Foundation
import ModelFiles

/// Coverage-guided fuzzing of the model-file reader (libFuzzer). Every input must
/// read as a model or be rejected with `ModelFileError`; anything else (a trap, an
/// AddressSanitizer report, a hang) is a crash libFuzzer saves.
///
/// Built by `scripts/fuzz-model-files` with `-sanitize=fuzzer,address -D FUZZING`,
/// where libFuzzer supplies `main`. In an ordinary build the target is a replayer:
/// `FuzzModelFiles FILE…` runs the same check on saved inputs (e.g. a crash file).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelFile(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    checkModelFile(Data(bytes: bytes, count: count))
    return 0
}

func checkModelFile(_ data: Data) {
    do {
        _ = try ModelFile.read(data, file: "fuzz.npz")
    } catch is ModelFileError {
    } catch {
        fatalError("model-file reader threw an untyped error: \(error)")
    }
    do {
        _ = try ModelFile.readRows(data, file: "fuzz.npz", shard: 1, of: 2)
    } catch is ModelFileError {
    } catch {
        fatalError("model-file shard reader threw an untyped error: \(error)")
    }
}

#if FUZZING
/// libFuzzer's driver, entered from the executable's entry point: SwiftPM names an
/// executable target's entry `FuzzModelFiles_main` and aliases `main` to it, so
/// libFuzzer's own `main` is not linked in.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("FuzzModelFiles_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc, arguments = argv
    return runFuzzerDriver(&count, &arguments) { bytes, size in fuzzModelFile(bytes, size) }
}
#else
@main
struct ReplayFuzzInputs {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("usage: FuzzModelFiles FILE… (replays fuzz inputs through the model-file reader)\n".utf8))
            exit(2)
        }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("cannot read \(path)\n".utf8)); exit(2)
            }
            checkModelFile(data)
            print("\(path): read or rejected cleanly")
        }
    }
}
#endif
