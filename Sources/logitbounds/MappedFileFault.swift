import Foundation

/// Model files are read through a memory map (a shard reads only its rows of a file that
/// may not fit in memory). If such a file shrinks while it is read — another process
/// truncates or rewrites it — the next access past its new end raises SIGBUS, which would
/// end the process with no word. This handler says so and exits 2 (bad input); nothing has
/// been written by then, as reports are written after every file is read. On x86-64 Linux a
/// SIGBUS has no other ordinary cause (misaligned access does not raise it; a hardware memory
/// error can), so the message names the likely cause rather than asserting it.
enum MappedFileFault {
    static func install() {
        signal(SIGBUS) { _ in
            // Only async-signal-safe calls: write(2) of a static string, then _exit.
            let message: StaticString = "\nlogitbounds: error: SIGBUS (a bus error) while reading: most likely an input file shrank or was rewritten by another process while it was read through its memory map; nothing was reported\n"
            _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
            _exit(2)
        }
    }
}
