// What the agent records through swift-metrics, kept in memory and written out in Prometheus' text format.
// Not swift-prometheus: with NIOHTTP1 it cost the daemon some resident memory for a page scraped now and then.
import CoreMetrics
import Synchronization

/// The swift-metrics backend of the daemon: counters, gauges (recorders that do not aggregate, meters) and timers
/// (histograms in seconds, with swift-prometheus' buckets, so dashboards keep working).
public final class MetricsRegistry: MetricsFactory, Sendable {
    /// Timer buckets, in seconds: swift-prometheus' defaults.
    static let timerBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct Family {
        var kind: String
        var series: [(labels: String, metric: any ExposedMetric)] = []
    }

    /// Families in the order they were first made, so the page reads the same from scrape to scrape.
    private let families = Mutex<(order: [String], byName: [String: Family])>(([], [:]))

    public init() {}

    /// The same name and dimensions give the same metric, as swift-metrics expects of a backend.
    private func metric<Metric: ExposedMetric>(_ name: String, _ dimensions: [(String, String)], make: () -> Metric) -> Metric {
        let labels = Self.labelText(dimensions)
        return families.withLock { families in
            var family = families.byName[name] ?? Family(kind: Metric.kind)
            precondition(family.kind == Metric.kind, "metric \(name) is a \(family.kind), not a \(Metric.kind)")
            if let existing = family.series.first(where: { $0.labels == labels })?.metric as? Metric { return existing }
            let metric = make()
            if families.byName[name] == nil { families.order.append(name) }
            family.series.append((labels, metric))
            families.byName[name] = family
            return metric
        }
    }

    private func forget(_ handler: AnyObject) {
        families.withLock { families in
            for name in families.order {
                families.byName[name]?.series.removeAll { $0.metric === handler }
            }
        }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        metric(label, dimensions) { CounterMetric() }
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        metric(label, dimensions) { CounterMetric() }
    }

    /// An aggregating recorder becomes a gauge of its last value: the agent records none.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        metric(label, dimensions) { GaugeMetric() }
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        metric(label, dimensions) { GaugeMetric() }
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        metric(label, dimensions) { TimerMetric() }
    }

    public func destroyCounter(_ handler: any CounterHandler) { forget(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { forget(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { forget(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { forget(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { forget(handler) }

    /// The page GET /metrics answers: one `# TYPE` line per name, then one line per series.
    public func exposition() -> [UInt8] {
        let snapshot = families.withLock { families in families.order.compactMap { name in families.byName[name].map { (name, $0) } } }
        var text = ""
        for (name, family) in snapshot where !family.series.isEmpty {
            text += "# TYPE \(name) \(family.kind)\n"
            for (labels, metric) in family.series { metric.write(name: name, labels: labels, to: &text) }
        }
        return Array(text.utf8)
    }

    /// `{key="value",...}`, or nothing without dimensions; `\`, `"` and newlines escaped as the format says.
    static func labelText(_ dimensions: [(String, String)]) -> String {
        guard !dimensions.isEmpty else { return "" }
        return "{" + dimensions.map { key, value in
            var escaped = ""
            for character in value {
                switch character {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "\n": escaped += "\\n"
                default: escaped.append(character)
                }
            }
            return "\(key)=\"\(escaped)\""
        }.joined(separator: ",") + "}"
    }

    /// Labels with one more pair (a histogram's `le`).
    static func labelText(_ labels: String, adding key: String, _ value: String) -> String {
        labels.isEmpty ? "{\(key)=\"\(value)\"}" : "\(labels.dropLast()),\(key)=\"\(value)\"}"
    }

    /// Prometheus spells the special values NaN, +Inf and -Inf.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }
}

protocol ExposedMetric: AnyObject, Sendable {
    static var kind: String { get }
    func write(name: String, labels: String, to text: inout String)
}

/// Whole increments stay exact; a floating-point increment makes the value print as a decimal.
final class CounterMetric: CounterHandler, FloatingPointCounterHandler, ExposedMetric {
    static let kind = "counter"
    private let value = Mutex<(whole: Int64, fraction: Double)>((0, 0))

    func increment(by amount: Int64) { value.withLock { $0.whole &+= amount } }
    func increment(by amount: Double) { value.withLock { $0.fraction += amount } }
    func reset() { value.withLock { $0 = (0, 0) } }

    func write(name: String, labels: String, to text: inout String) {
        let (whole, fraction) = value.withLock { $0 }
        text += "\(name)\(labels) \(fraction == 0 ? "\(whole)" : MetricsRegistry.number(Double(whole) + fraction))\n"
    }
}

final class GaugeMetric: RecorderHandler, MeterHandler, ExposedMetric {
    static let kind = "gauge"
    private let value = Mutex<Double>(0)

    func record(_ value: Int64) { self.value.withLock { $0 = Double(value) } }
    func record(_ value: Double) { self.value.withLock { $0 = value } }
    func set(_ value: Int64) { record(value) }
    func set(_ value: Double) { record(value) }
    func increment(by amount: Double) { value.withLock { $0 += amount } }
    func decrement(by amount: Double) { value.withLock { $0 -= amount } }

    func write(name: String, labels: String, to text: inout String) {
        text += "\(name)\(labels) \(MetricsRegistry.number(value.withLock { $0 }))\n"
    }
}

/// A histogram of durations in seconds: cumulative buckets, their sum and count.
final class TimerMetric: TimerHandler, ExposedMetric {
    static let kind = "histogram"
    private let state = Mutex<(buckets: [Int], sum: Double, count: Int)>(([Int](repeating: 0, count: MetricsRegistry.timerBuckets.count), 0, 0))

    func recordNanoseconds(_ duration: Int64) {
        let seconds = Double(duration) / 1e9
        state.withLock { state in
            for (index, bound) in MetricsRegistry.timerBuckets.enumerated() where seconds <= bound { state.buckets[index] += 1 }
            state.sum += seconds
            state.count += 1
        }
    }

    func write(name: String, labels: String, to text: inout String) {
        let (buckets, sum, count) = state.withLock { $0 }
        for (bound, observed) in zip(MetricsRegistry.timerBuckets, buckets) {
            text += "\(name)_bucket\(MetricsRegistry.labelText(labels, adding: "le", "\(bound)")) \(observed)\n"
        }
        text += "\(name)_bucket\(MetricsRegistry.labelText(labels, adding: "le", "+Inf")) \(count)\n"
        text += "\(name)_sum\(labels) \(MetricsRegistry.number(sum))\n"
        text += "\(name)_count\(labels) \(count)\n"
    }
}
