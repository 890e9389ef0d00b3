// Logarithms for timeouts and retransmit counts, in pure Swift: the core imports neither Foundation nor libc,
// and the same bits come out on every platform, so a simulation seed replays identically anywhere.

enum GossipMath {
    /// ln(x) for x > 0 (0 otherwise): x = m × 2^e with m in [1, 2), ln m = 2 atanh((m − 1)/(m + 1)).
    static func naturalLog(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 0 }
        let exponent = Double(x.exponent)
        let mantissa = x.significand
        let y = (mantissa - 1) / (mantissa + 1)
        let ySquared = y * y
        var term = y
        var sum = 0.0
        // |y| ≤ 1/3, so each term shrinks by 9 at least: 20 terms are past double precision.
        for k in 0..<20 {
            sum += term / Double(2 * k + 1)
            term *= ySquared
        }
        return exponent * 0.693_147_180_559_945_309_4 + 2 * sum
    }

    static func log10(_ x: Double) -> Double { naturalLog(x) / 2.302_585_092_994_045_684_0 }

    /// ceil(log10(n)) for n ≥ 1 in integers: how many decimal digits n − 1 needs, never below 0.
    static func ceilLog10(_ n: Int) -> Int {
        var digits = 0
        var power = 1
        while power < n {
            power *= 10
            digits += 1
        }
        return digits
    }
}
