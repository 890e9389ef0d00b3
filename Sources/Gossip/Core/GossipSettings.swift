// SWIM and Lifeguard's knobs, with defaults for a LAN of a few to a few dozen Raspberry Pis.

/// The defaults aim at: a crashed board seen dead by every survivor within 2 s (median, 5 to 10 boards), no
/// healthy board ever declared dead while one board loses 20 % of its UDP packets (both ways), and no more
/// traffic than memberlist's LAN profile. They were picked with Tests/GossipTests/Simulation (figures there,
/// and below): at 10 boards a crash is seen after 0.9 s at best, 1.7 s median, 3.9 s at worst (when no
/// survivor happens to probe the crashed board for three intervals); 600 s of 20 % or of 30 % loss on one
/// of 5, 8 or 10 boards declared no one dead in 84 runs (a scratch run of 14 seeds each, 2026-12-01). Until
/// then the probe interval was 200 ms: 1.2 s median and 2.1 s at worst, for four times the traffic.
public struct GossipSettings: Sendable, Equatable {
    /// One member probed per interval. 1 s, as memberlist's LAN profile: each probe is a ping and an ack that
    /// every board both sends and receives, about 90 bytes each on the wire, so the interval sets the steady
    /// traffic (about 0.4 kB/s a board at 1 s; 1.9 kB/s at the 200 ms used before). Detection does not wait
    /// for the round-robin to come around: whoever hears a suspicion probes the suspect at once (see SWIMCore).
    public var probeInterval: Duration = .seconds(1)
    /// How long a direct ping waits for its ack before helpers are asked. 100 ms is 100 times a LAN round
    /// trip, so only loss or a stalled board trips it.
    public var probeTimeout: Duration = .milliseconds(100)
    /// How long, after the direct deadline, the helpers' pings may take before the target is suspected.
    /// 150 ms: four LAN hops need a millisecond; the rest is room for a busy board. The probe, and with it the
    /// time to a suspicion, ends at probeTimeout + this (250 ms), not at the end of the interval.
    public var indirectProbeTimeout: Duration = .milliseconds(150)
    /// Helpers asked to ping a target that missed its direct ack. 3: with one lossy link, the chance that
    /// all three paths fail too is small (about 5 % at 20 % loss), and three more datagrams per failure is
    /// cheap.
    public var indirectProbes = 3
    /// A helper that got no ack from the target sends a nack this long after the request, early enough to
    /// reach the requester before its probe ends (indirectProbeTimeout later), so missing nacks point at the
    /// requester's own network rather than the target.
    public var nackTimeout: Duration = .milliseconds(80)
    /// Minimum suspicion = suspicionMult × max(1, log10 N) × gossip interval (memberlist multiplies its probe
    /// interval instead; here refutations travel by gossip rounds, at once and then every gossipInterval, and
    /// do not wait for probes). 3 gives a suspect 600 ms at the least, and that only once three others have
    /// failed to reach it too: a board that answers nobody for longer is declared dead. Measured at 10
    /// boards (1 s probes): 4 detects in 2.0 s median, 3 in 1.8 s; at 200 ms probes, 2 killed a board at
    /// 20 % loss. Below 10 boards a suspect alone lasts 3.6 s (max below).
    public var suspicionMult = 3
    /// A suspicion nobody confirms lasts 6 × the minimum (3.6 s below 10 members): a lone accuser, perhaps
    /// the one with the bad network, cannot kill a member quickly. Independent accusers shorten it.
    public var suspicionMaxTimeoutMult = 6
    /// k: accusers beyond the first after which the suspicion is at its minimum. 3, or fewer in a cluster too
    /// small to have them (N − 2).
    public var suspicionConfirmations = 3
    /// Each update rides on retransmitMult × ceil(log10(N + 1)) datagrams: 4 sends below 9 members, 8 up to
    /// 99. 4 is memberlist's value; 6 made no measurable difference even at 30 % loss, because refutations
    /// also ride on acks (see SWIMCore) and push-pull repairs the rest.
    public var retransmitMult = 4
    /// Lifeguard's local health stretches probe timings, and this node's suspicion timeouts, up to this many
    /// times on a board that doubts its own network (8, as memberlist): it then accuses others slowly
    /// instead of wrongly, and healthy boards still time real deaths out on schedule.
    public var maxLocalHealthMultiplier = 8
    /// Queued updates are also sent, every gossipInterval, to gossipFanout random members (and recently dead
    /// ones, which may only be cut off), so news does not wait for the next ping: with 3 targets every 200 ms
    /// an update reaches 10 boards in 2 to 3 rounds. Nothing is sent while nothing is queued.
    public var gossipInterval: Duration = .milliseconds(200)
    public var gossipFanout = 3
    /// A full state exchange over TCP with one random member: repairs what gossip missed (a member nobody
    /// gossiped about, a long loss). 30 s, as memberlist: at 10 boards, one small TCP exchange every 3 s
    /// across the cluster.
    public var pushPullInterval: Duration = .seconds(30)
    /// How often the cluster, as a whole, tries a push-pull with one dead member to heal a partition: 5 s
    /// puts the halves of a healed LAN back together within seconds, at the cost of about one failed TCP
    /// connect per 5 s while a board is really down. Only within `departedRetention`: a longer split needs
    /// the shell to join its configured peers again.
    public var reconnectInterval: Duration = .seconds(5)
    /// Dead and left members are remembered this long, then forgotten. Meanwhile they still get gossip and
    /// reconnect attempts (a dead one that was only partitioned away learns of it and refutes), and stale
    /// news about them is recognised as stale. Longer heals longer partitions by itself but keeps sending
    /// to boards that are really gone.
    public var departedRetention: Duration = .seconds(30)
    /// The largest datagram the core builds; the shell seals it into at most 1400 bytes.
    public var maxDatagramBytes = GossipCodec.maxDatagramBytes

    public init() {}
}
