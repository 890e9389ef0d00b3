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

        // Pure value types shared by both executables: agent.yaml, desired.yaml, the control protocol.
        .target(name: "HomecloudSchema", dependencies: ["CYAML"]),

        // Admin keys and signed desired-state documents (Ed25519): used by hcctl to sign, by the agent to verify.
        .target(name: "Trust", dependencies: ["CSodium"]),

        // What the parts share to be wired together by AgentRuntime: typed latest-value channels, the problem
        // list, the document in force, the probes' verdicts on units.
        .target(name: "PartWiring", dependencies: ["HomecloudSchema", .product(name: "Logging", package: "swift-log")]),

        // Protocol cores (pure) and their shells (each module's service and driver in its Shell).
        .target(
            name: "Reconciler",
            dependencies: [
                "HomecloudSchema", "CSystemd", "PartWiring",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Probes",
            dependencies: [
                "HomecloudSchema",
                "CLinuxEvents",
                "Reactor",
                "PartWiring",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "VRRP",
            dependencies: [
                "HomecloudSchema", "CNetlinkRoute", "Reactor", "PartWiring",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Gossip",
            dependencies: [
                "HomecloudSchema", "CSodium", "Reactor", "Trust", "PartWiring",
                // MemberView: the typed member states gossip publishes for placement.
                "Reconciler",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // The daemon: builds the parts and wires them, control socket, metrics endpoint, systemd notify, document watcher.
        .target(
            name: "AgentRuntime",
            dependencies: [
                "HomecloudSchema", "PartWiring", "Reconciler", "VRRP", "Gossip", "Probes", "Reactor", "CSystemd", "Trust",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "hcagent", dependencies: ["AgentRuntime", "Gossip"]),
        .executableTarget(
            name: "hcctl",
            dependencies: ["HomecloudSchema", "Trust", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .testTarget(name: "HomecloudSchemaTests", dependencies: ["HomecloudSchema"]),
        .testTarget(name: "ReconcilerTests", dependencies: ["Reconciler"]),
        .testTarget(name: "TrustTests", dependencies: ["Trust"]),
        .testTarget(
            name: "ProbesTests",
            dependencies: ["Probes", .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]
        ),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "CLinuxEvents"]),
        .testTarget(name: "VRRPTests", dependencies: ["VRRP", "CNetlinkRoute"]),
        .testTarget(
            name: "GossipTests",
            // Reconciler: the partition simulation runs its planner on gossip's views.
            dependencies: ["Gossip", "HomecloudSchema", "Reconciler", "Reactor", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "AgentRuntimeTests",
            dependencies: ["AgentRuntime", "PartWiring", "Trust", .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
    ]
)
