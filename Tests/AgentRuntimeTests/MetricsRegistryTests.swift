// The /metrics page: swift-metrics' counters, gauges and timers in Prometheus' text format, and its small HTTP.
import CoreMetrics
import Testing
@testable import AgentRuntime

@Suite struct MetricsRegistryTests {
    func page(_ registry: MetricsRegistry) -> String { String(decoding: registry.exposition(), as: UTF8.self) }

    @Test func countersAndGaugesOneTypeLinePerName() {
        let registry = MetricsRegistry()
        registry.makeCounter(label: "drops_total", dimensions: [("reason", "unsealed")]).increment(by: 2)
        registry.makeCounter(label: "drops_total", dimensions: [("reason", "undecodable")]).increment(by: 1)
        registry.makeCounter(label: "drops_total", dimensions: [("reason", "unsealed")]).increment(by: 3)
        registry.makeRecorder(label: "generation", dimensions: [], aggregate: false).record(Int64(7))
        #expect(page(registry) == """
            # TYPE drops_total counter
            drops_total{reason="unsealed"} 5
            drops_total{reason="undecodable"} 1
            # TYPE generation gauge
            generation 7.0

            """)
    }

    @Test func timersAreHistogramsInSeconds() {
        let registry = MetricsRegistry()
        let timer = registry.makeTimer(label: "probe_seconds", dimensions: [("probe", "web")])
        timer.recordNanoseconds(3_000_000)
        timer.recordNanoseconds(200_000_000)
        timer.recordNanoseconds(60_000_000_000)
        let lines = page(registry).split(separator: "\n").map(String.init)
        #expect(lines.first == "# TYPE probe_seconds histogram")
        #expect(lines.contains(#"probe_seconds_bucket{probe="web",le="0.005"} 1"#))
        #expect(lines.contains(#"probe_seconds_bucket{probe="web",le="0.25"} 2"#))
        #expect(lines.contains(#"probe_seconds_bucket{probe="web",le="10.0"} 2"#))
        #expect(lines.contains(#"probe_seconds_bucket{probe="web",le="+Inf"} 3"#))
        #expect(lines.contains { $0.hasPrefix(#"probe_seconds_sum{probe="web"} 60.2"#) })
        #expect(lines.contains(#"probe_seconds_count{probe="web"} 3"#))
    }

    @Test func labelValuesAreEscapedAndDestroyedMetricsLeave() {
        let registry = MetricsRegistry()
        let counter = registry.makeCounter(label: "odd_total", dimensions: [("path", "a\"b\\c\nd")])
        counter.increment(by: 1)
        #expect(page(registry).contains(#"odd_total{path="a\"b\\c\nd"} 1"#))
        registry.destroyCounter(counter)
        #expect(page(registry) == "")
    }

    @Test func answersOnlyGetMetrics() {
        func answer(_ head: String) -> String {
            String(decoding: MetricsServer.answer(toHead: Array(head.utf8)) { Array("x 1\n".utf8) }, as: UTF8.self)
        }
        #expect(answer("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n") == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\nx 1\n")
        #expect(answer("GET /metrics?x=1 HTTP/1.0\r\n\r\n").hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(answer("GET / HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(answer("POST /metrics HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(answer("hello\r\n\r\n").hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(answer("GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000)).hasPrefix("HTTP/1.1 431 "))
        #expect(MetricsServer.headEnds(Array("GET / HTTP/1.1\r\n\r\n".utf8)) && !MetricsServer.headEnds(Array("GET / HTTP/1.1\r\n".utf8)))
    }
}
