// Test helper: a fresh directory under /tmp, removed with everything in it when the test is done.
#if canImport(Glibc)
import Glibc
#endif

final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/hcagent-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func write(_ name: String, _ text: String) {
        let file = fopen(path + "/" + name, "w")!
        fputs(text, file)
        fclose(file)
    }

    deinit {
        _ = system("rm -rf '\(path)'")
    }
}
