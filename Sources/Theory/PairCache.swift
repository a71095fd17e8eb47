import Foundation

/// Memoised quantities of one `ModelPair`, shared by every statement evaluated on
/// it (d_logit², diversity, KL per input, the exact pair, …), so a harness case
/// computes each at most once. Guarded by a lock; values are immutable once stored.
final class PairCache: @unchecked Sendable {
    private let lock = NSLock()
    private var store: [String: Any] = [:]

    func value<T>(_ key: String, _ make: () throws -> T) rethrows -> T {
        lock.lock()
        // Look the key up first: with an optional T, `store[key] as? T` would
        // succeed on a missing key (as .some(nil)).
        if let stored = store[key], let hit = stored as? T { lock.unlock(); return hit }
        lock.unlock()
        let made = try make()
        lock.lock()
        store[key] = made
        lock.unlock()
        return made
    }

    /// The stored value, if any, without computing it. (A missing key is nil even for an
    /// optional T, as in `value`.)
    func peek<T>(_ key: String, as type: T.Type) -> T? {
        lock.lock()
        defer { lock.unlock() }
        guard let stored = store[key] else { return nil }
        return stored as? T
    }

    /// Stores a value computed elsewhere (e.g. a symmetric quantity of the swapped pair).
    func seed(_ key: String, _ value: Any) {
        lock.lock()
        store[key] = value
        lock.unlock()
    }
}
