import Foundation

/// Model files are read through a memory map (a shard reads only its rows of a file that
/// may not fit in memory). If such a file shrinks while it is read — another process
/// truncates or rewrites it — the next access past its new end raises SIGBUS, which would
/// end the process with no word. This handler says what happened and exits 2 (bad input);
/// nothing has been written by then, as reports are written after every file is read.
/// On x86-64 Linux a SIGBUS has no other ordinary cause (misaligned access does not raise it).
enum MappedFileFault {
    /// The message, written by the handler with `write(2)`: prepared before any signal can
    /// arrive, since a handler may not allocate.
    nonisolated(unsafe) private static var message: UnsafeMutableBufferPointer<UInt8> = .init(start: nil, count: 0)

    static func install() {
        let text = "\nlogitbounds: error: an input file shrank or became unreadable while it was being read "
            + "(SIGBUS on its memory map: was it truncated or rewritten by another process?); nothing was reported\n"
        let bytes = Array(text.utf8)
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = buffer.initialize(from: bytes)
        message = buffer
        signal(SIGBUS) { _ in
            let m = MappedFileFault.message
            _ = write(2, m.baseAddress, m.count)
            _exit(2)
        }
    }
}
