// swift-tools-version:6.0
// hcagent: the node agent of a cloud at home (gossip, virtual IP, systemd reconciler, probes).
import PackageDescription

let package = Package(
    name: "hcagent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hcagent", targets: ["hcagent"]),
        .executable(name: "hcctl", targets: ["hcctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C libraries, found with pkg-config and installed from Debian's packages.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CNetlinkRoute", pkgConfig: "libnl-route-3.0", providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // libc's epoll, eventfd and pidfd headers, which the Glibc module does not import.
        .systemLibrary(name: "CLinuxEvents"),
        // One thread per shell in epoll: its descriptors, its timer and the jobs handed to it (probes, VRRP).
        .target(name: "Reactor", dependencies: ["CLinuxEvents"]),

        // Pure value types shared by both executables and every core: agent.yaml's and desired.yaml's models,
        // the control protocol, located diagnostics, addresses, a seeded random generator. No C library, no IO.
        .target(name: "HomecloudSchema"),
        // Those models read from text with libyaml (agent.yaml, desired.yaml) and from files: what the shells use.
        .target(name: "HomecloudYAML", dependencies: ["HomecloudSchema", "CYAML"]),
        // keepalived.conf → the vips and probes of a document (hcctl import keepalived); pure.
        .target(name: "KeepalivedImport"),

        // Admin keys and signed desired-state documents (Ed25519): used by hcctl to sign, by the agent to verify.
        .target(name: "Trust", dependencies: ["CSodium"]),

        // What the parts share to be wired together by AgentRuntime: typed latest-value channels, the problem
        // list, the document in force, the probes' verdicts on units.
        .target(name: "PartWiring", dependencies: ["HomecloudSchema", "HomecloudYAML", .product(name: "Logging", package: "swift-log")]),

        // Runs the parts as one group and stops them last first on SIGTERM. Our own, not swift-service-lifecycle's
        // ServiceLifecycle: that one links swift-async-algorithms whole, about 1 MiB of code and so of RSS
        // (docs/benchmarks.md), for the four functions the agent uses.
        .target(name: "PartLifecycle", dependencies: [
            .product(name: "Logging", package: "swift-log"), .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),

        // Protocol cores and their shells. A core (Sources/<Module>/Core) is pure: value types that take events
        // and a `now: Duration` and return actions; it imports only the schema (and other cores), never NIO, a C
        // library, Logging or Metrics, so tests, simulations and the fuzzer use it as it is. A shell
        // (Sources/<Module>/Shell) carries the actions out: sockets, netlink, sd-bus, the event thread, and holds
        // the module's service.
        .target(name: "ReconcilerCore", dependencies: ["HomecloudSchema"], path: "Sources/Reconciler/Core"),
        .target(
            name: "Reconciler",
            dependencies: [
                "ReconcilerCore", "HomecloudSchema", "CSystemd", "Reactor", "PartWiring",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                "PartLifecycle",
            ],
            path: "Sources/Reconciler/Shell"
        ),
        .target(name: "ProbesCore", dependencies: ["HomecloudSchema"], path: "Sources/Probes/Core"),
        .target(
            name: "Probes",
            dependencies: [
                "ProbesCore",
                "HomecloudSchema",
                "CLinuxEvents",
                "Reactor",
                "PartWiring",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                "PartLifecycle",
            ],
            path: "Sources/Probes/Shell"
        ),
        .target(name: "VRRPCore", dependencies: ["HomecloudSchema"], path: "Sources/VRRP/Core"),
        .target(
            name: "VRRP",
            dependencies: [
                "VRRPCore", "HomecloudSchema", "HomecloudYAML", "CNetlinkRoute", "Reactor", "PartWiring",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                "PartLifecycle",
            ],
            path: "Sources/VRRP/Shell"
        ),
        .target(name: "GossipCore", dependencies: ["HomecloudSchema"], path: "Sources/Gossip/Core"),
        .target(
            name: "Gossip",
            dependencies: [
                "GossipCore", "HomecloudSchema", "HomecloudYAML", "CSodium", "Reactor", "Trust", "PartWiring",
                // MemberView: the typed member states gossip publishes for placement.
                "ReconcilerCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                "PartLifecycle",
            ],
            path: "Sources/Gossip/Shell"
        ),

        // The daemon: builds the parts and wires them, control socket, metrics endpoint, systemd notify, document watcher.
        .target(
            name: "AgentRuntime",
            dependencies: [
                "HomecloudSchema", "HomecloudYAML", "PartWiring", "Reconciler", "VRRP", "Gossip", "Probes", "Reactor", "CSystemd", "Trust",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                "PartLifecycle",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "hcagent", dependencies: ["AgentRuntime", "Gossip", "HomecloudYAML", "CLinuxEvents"]),
        .executableTarget(
            name: "hcctl",
            dependencies: ["HomecloudSchema", "HomecloudYAML", "Trust", "KeepalivedImport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .testTarget(name: "HomecloudSchemaTests", dependencies: ["HomecloudSchema", "HomecloudYAML"]),
        .testTarget(name: "ReconcilerTests", dependencies: ["ReconcilerCore", "HomecloudYAML"]),
        .testTarget(name: "TrustTests", dependencies: ["Trust"]),
        .testTarget(name: "KeepalivedImportTests", dependencies: ["KeepalivedImport", "HomecloudSchema", "HomecloudYAML"]),
        .testTarget(
            name: "ProbesTests",
            dependencies: ["Probes", "ProbesCore", .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]
        ),
        .testTarget(name: "PartLifecycleTests", dependencies: ["PartLifecycle", .product(name: "Logging", package: "swift-log"),
                                                               .product(name: "UnixSignals", package: "swift-service-lifecycle")]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "CLinuxEvents"]),
        .testTarget(name: "VRRPTests", dependencies: ["VRRP", "VRRPCore", "CNetlinkRoute"]),
        .testTarget(
            name: "GossipTests",
            // Reconciler: the partition simulation runs its planner on gossip's views.
            dependencies: ["Gossip", "GossipCore", "HomecloudSchema", "HomecloudYAML", "ReconcilerCore", "Reactor", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "AgentRuntimeTests",
            dependencies: ["AgentRuntime", "PartWiring", "Trust", .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
    ]
)
