// Syncthing's device ID from its certificate, for the fact kind `syncthing-device-id`: the SHA-256 of the
// certificate's DER bytes in base32, each quarter followed by Syncthing's Luhn mod 32 check character, in groups
// of seven. Pure: the shell hashes (libsodium); this decodes the PEM and spells the digest.
import HomecloudSchema

public enum SyncthingDeviceID {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case noCertificate, badBase64, badDigest
        public var description: String {
            switch self {
            case .noCertificate: return "no PEM CERTIFICATE block in it"
            case .badBase64: return "its CERTIFICATE block is not base64"
            case .badDigest: return "a SHA-256 digest is 32 bytes"
            }
        }
    }

    /// The DER bytes of the first `CERTIFICATE` block of a PEM file.
    public static func certificateDER(pem bytes: [UInt8]) -> Result<[UInt8], Problem> {
        let text = String(decoding: bytes, as: UTF8.self)
        var inside = false
        var body = ""
        // "\r\n" is one Character in Swift: both line ends split.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line == "-----BEGIN CERTIFICATE-----" {
                inside = true
                body = ""
            } else if line == "-----END CERTIFICATE-----", inside {
                guard !body.isEmpty, let der = Base64.decode(body) else { return .failure(.badBase64) }
                return .success(der)
            } else if inside {
                body += line.filter { $0 != " " && $0 != "\t" }
            }
        }
        return .failure(.noCertificate)
    }

    /// The device ID for a certificate's SHA-256 digest: 8 groups of 7 characters joined by dashes.
    public static func text(digest: [UInt8]) -> Result<String, Problem> {
        guard digest.count == 32 else { return .failure(.badDigest) }
        let plain = base32(digest)  // 52 characters
        var checked: [UInt8] = []
        for start in stride(from: 0, to: plain.count, by: 13) {
            let quarter = Array(plain[start..<min(start + 13, plain.count)])
            checked += quarter
            checked.append(luhn32(quarter))
        }
        var grouped: [UInt8] = []
        for (index, char) in checked.enumerated() {
            if index > 0 && index % 7 == 0 { grouped.append(UInt8(ascii: "-")) }
            grouped.append(char)
        }
        return .success(String(decoding: grouped, as: UTF8.self))
    }

    /// RFC 4648 base32, upper case, without padding.
    static func base32(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                output.append(alphabet[Int((buffer >> UInt32(bits)) & 31)])
            }
        }
        if bits > 0 { output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return output
    }

    /// Syncthing's check character: weights 1, 2, 1, 2 ... from the first character (not the last, as the
    /// textbook Luhn mod N has it), each product's base-32 digits summed, and the character that brings the
    /// sum to a multiple of 32.
    static func luhn32(_ characters: [UInt8]) -> UInt8 {
        var sum = 0
        var factor = 1
        for char in characters {
            let value = alphabet.firstIndex(of: char) ?? 0
            let product = factor * value
            sum += product / 32 + product % 32
            factor = factor == 1 ? 2 : 1
        }
        return alphabet[(32 - sum % 32) % 32]
    }
}
