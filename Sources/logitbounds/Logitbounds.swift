import ArgumentParser
import Foundation
import Numerics

/// The release, and the BLAS this process runs on (its kernel decides the last bits of
/// every product): `logitbounds --version`.
let versionText = "logitbounds 0.12 (OpenBLAS kernel \(BLASThreads.kernelDescription), run single-threaded under \(BLASThreads.cores) Swift workers; \(BLASThreads.configuration.trimmingCharacters(in: .whitespaces)))"

@main
struct Logitbounds: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logitbounds",
        abstract: "Verify, by exact computation and randomized testing, the theory of \"Logit Distance Bounds Representational Similarity\".",
        discussion: """
        Statement ids T1–T12 and CE1–CE5 are those of THEORY.md. Every verdict says how it was reached: \
        fast enclosure (Double intervals with proven error bounds, Proofs/certificates.md), enclosure (MPFR, \
        directed rounding), exact (GMP rationals) or double (a screen). A violation is only ever reported \
        certified; a screen that sees its sides cross or tie says "not decided". By default verify certifies \
        every decided verdict (fast enclosure first, then MPFR or exact where it cannot decide); \
        verify --certify screen keeps the double screen for its "holds" (relative margin above 1e−9).

        Exit status: 0 success (nothing violated), 1 a certified violation was found, 2 bad usage or bad input.
        """,
        version: versionText,
        subcommands: [VerifyCommand.self, MergeCommand.self, CounterexampleCommand.self, MeasureCommand.self, TightnessCommand.self, DistillCommand.self, BenchCommand.self])

    /// Parses, runs, and maps errors to the documented exit codes: help exits 0, a
    /// command's own `ExitCode` (1 for a certified violation) passes through, and
    /// every usage or input error exits 2 with its message on standard error
    /// (ArgumentParser's own usage code, 64, becomes 2).
    static func main() {
        Interrupt.unblockInheritedSignals()
        let arguments = Array(CommandLine.arguments.dropFirst())
        // No command at all, or help for a command that does not exist: usage on standard
        // error and exit 2, as for any other usage error (ArgumentParser exits 0 for both).
        if arguments.isEmpty {
            FileHandle.standardError.write(Data((helpMessage() + "\n\nlogitbounds: no command given\n").utf8))
            Foundation.exit(2)
        }
        let commands = configuration.subcommands.map { $0.configuration.commandName ?? "" }
        if arguments.first == "help", arguments.count > 1, !commands.contains(arguments[1]) {
            FileHandle.standardError.write(Data("logitbounds: no command \"\(arguments[1])\"; the commands are \(commands.joined(separator: ", "))\n".utf8))
            Foundation.exit(2)
        }
        MappedFileFault.install()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            var message = fullMessage(for: error)
            // "-1" after an option reads as an option to the parser: say what happened.
            if let negative = arguments.first(where: { $0.count > 1 && $0.hasPrefix("-") && (Double($0) ?? 0) < 0 }) {
                let sentence = "\(negative) is a negative number, which no option of logitbounds accepts (budgets, sizes and scales are positive)"
                message = message.hasPrefix("Error: Missing value") || message.hasPrefix("Error: Unknown option")
                    ? "Error: " + sentence : message + "\n(" + sentence + ")"
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

/// An error the command line reports and exits 2 for.
/// "i/n" (1-based) as (i − 1, n), for `verify --shard` and `measure --shard`.
func parseShard(_ text: String) throws -> (index: Int, count: Int) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
    guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (1...n).contains(i) else {
        throw ValidationError("--shard must look like i/n with 1 ≤ i ≤ n, got \(text)")
    }
    return (i - 1, n)
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A comma-separated option value parsed item by item; any item `parse` rejects
/// makes the whole option a usage error naming the option.
func commaSeparated<T>(_ text: String, option: String, of what: String, _ parse: (String) -> T?) throws -> [T] {
    let values = text.split(separator: ",").map { parse($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
        throw ValidationError("--\(option) must be \(what) separated by commas, got \"\(text)\"")
    }
    return values.map { $0! }
}
