// Gossip's traffic as counters, by direction: UDP datagrams and their bytes, and the bytes of push-pull streams.
// Made once per socket set; counting is a locked add, no allocation per packet.
import Metrics

struct GossipTraffic: Sendable {
    let packetsSent = Counter(label: "hcagent_gossip_packets_total", dimensions: [("direction", "sent")])
    let packetsReceived = Counter(label: "hcagent_gossip_packets_total", dimensions: [("direction", "received")])
    let udpBytesSent = Counter(label: "hcagent_gossip_bytes_total", dimensions: [("direction", "sent"), ("transport", "udp")])
    let udpBytesReceived = Counter(label: "hcagent_gossip_bytes_total", dimensions: [("direction", "received"), ("transport", "udp")])
    let tcpBytesSent = Counter(label: "hcagent_gossip_bytes_total", dimensions: [("direction", "sent"), ("transport", "tcp")])
    let tcpBytesReceived = Counter(label: "hcagent_gossip_bytes_total", dimensions: [("direction", "received"), ("transport", "tcp")])

    func sentDatagram(_ bytes: Int) {
        packetsSent.increment()
        udpBytesSent.increment(by: Int64(bytes))
    }

    func receivedDatagram(_ bytes: Int) {
        packetsReceived.increment()
        udpBytesReceived.increment(by: Int64(bytes))
    }
}
