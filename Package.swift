// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "nuage",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nuage", targets: ["nuage"]),
        .library(name: "NuageEngine", targets: ["NuageEngine"]),
        .library(name: "NuageTestSupport", targets: ["NuageTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Value types shared by every layer: errors, names, policy, byte blocks.
        .target(name: "NuageCore", swiftSettings: strict),
        // SIMD Galois-field kernels.
        .target(name: "CNuageErasure", cSettings: [.unsafeFlags(["-O3"])]),
        // Hardware CRCs (PCLMULQDQ folding, the SSE4.2 CRC32C instruction) for S3's checksums.
        .target(name: "CNuageCRC", cSettings: [.unsafeFlags(["-O3"])]),
        // Reads that never wait for a disk (openat2 RESOLVE_CACHED, preadv2 RWF_NOWAIT).
        .target(name: "CNuageIO"),
        // Reed-Solomon codec over GF(2^8).
        .target(name: "NuageErasure", dependencies: ["NuageCore", "CNuageErasure"], swiftSettings: strict),
        // Sealing (AES-256-GCM), chunk tags, master and data keys.
        .target(
            name: "NuageCrypto",
            dependencies: ["NuageCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // The PKCS#11 C API (p11-kit's header) and the master key in a token behind it.
        .systemLibrary(name: "CPKCS11", pkgConfig: "p11-kit-1", providers: [.apt(["libp11-kit-dev"])]),
        .target(name: "NuagePKCS11", dependencies: ["NuageCore", "NuageCrypto", "CPKCS11"], swiftSettings: strict),
        // Provider protocol, the directory and S3-compatible providers.
        .target(
            name: "NuageProviders",
            dependencies: ["NuageCore", "NuageS3Client", "CNuageIO", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: strict),
        // Catalog protocol and the SQLite catalog.
        .target(
            name: "NuageCatalog",
            dependencies: ["NuageCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // The PostgreSQL catalog: several gateways share one (postgres-nio, a connection pool).
        .target(
            name: "NuageCatalogPostgres",
            dependencies: ["NuageCore", "NuageCatalog", .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: strict),
        // put/get/list/delete, placement, shard blob format, garbage collection.
        // The tamper-evident audit log: records, RFC 9162 Merkle tree, signed C2SP checkpoints.
        .target(
            name: "NuageAudit",
            dependencies: ["NuageCore", .product(name: "Crypto", package: "swift-crypto"), .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        .target(
            name: "NuageEngine",
            dependencies: ["NuageCore", "NuageErasure", "NuageCrypto", "NuageProviders", "NuageCatalog",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: strict),
        // AWS Signature Version 4: signing, verification, aws-chunked bodies.
        .target(
            name: "NuageSigV4",
            dependencies: ["NuageCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // A small S3 client (SigV4-signed, on async-http-client): the load generator's, and
        // S3-compatible providers'.
        .target(
            name: "NuageS3Client",
            dependencies: ["NuageCore", "NuageSigV4",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
            swiftSettings: strict),
        // The S3 HTTP API: routing, authentication, XML, S3 errors.
        .target(
            name: "NuageServer",
            dependencies: [
                "NuageEngine", "NuageSigV4", "CNuageCRC",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            swiftSettings: strict),
        // nuage.toml, the data directory and how an engine is opened from it.
        .target(name: "NuageConfig", dependencies: ["NuageEngine", "NuageS3Client", "NuagePKCS11", "NuageCatalogPostgres",
                                                  .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        // A serving gateway: the S3 server and every background job as one service group, its
        // logs; built by one function that `nuage serve` and the tests call.
        .target(
            name: "NuageGateway",
            dependencies: ["NuageServer", "NuageEngine", "NuageAudit", "NuageConfig",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict),
        // The command line.
        .executableTarget(
            name: "nuage",
            dependencies: ["NuageConfig", "NuageServer", "NuageGateway", "NuageAudit", "NuageS3Client", "NuageLocalS3", "NuagePKCS11",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        // Fuzz harnesses of every parser of outside bytes: libFuzzer targets under scripts/fuzz,
        // a corpus replayer otherwise.
        .executableTarget(
            name: "nuage-fuzz", dependencies: ["NuageCatalog", "NuageConfig", "NuageServer", "NuageSigV4", "NuagePKCS11",
                                               .product(name: "HTTPTypes", package: "swift-http-types")], path: "Sources/NuageFuzz",
            swiftSettings: strict),
        // Conformance suites every provider and catalog implementation runs.
        // Local S3 servers (rclone serve s3, moto_server) as child processes: tests and benchmarks.
        .target(name: "NuageLocalS3", dependencies: ["NuageCore", "NuageS3Client", "NuageSigV4", "NuageProviders",
                                                     .product(name: "AsyncHTTPClient", package: "async-http-client")],
                swiftSettings: strict),
        .target(name: "NuageTestSupport", dependencies: ["NuageProviders", "NuageCatalog", "NuageCatalogPostgres", "NuageLocalS3",
                                                  .product(name: "PostgresNIO", package: "postgres-nio")], swiftSettings: strict),
        .testTarget(
            name: "NuageGatewayTests",
            dependencies: ["NuageGateway", "NuageConfig", "NuageTestSupport", "NuageSigV4",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: strict),
        .testTarget(name: "NuageErasureTests", dependencies: ["NuageErasure"], swiftSettings: strict),
        .testTarget(name: "NuageCoreTests", dependencies: ["NuageCore"], swiftSettings: strict),
        .testTarget(name: "NuageCryptoTests", dependencies: ["NuageCrypto", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .testTarget(name: "NuagePKCS11Tests", dependencies: ["NuagePKCS11", "NuageCrypto", "NuageCore"], swiftSettings: strict),
        .testTarget(name: "NuageAuditTests", dependencies: ["NuageAudit", "NuageCore"], swiftSettings: strict),
        .testTarget(name: "NuageSigV4Tests", dependencies: ["NuageSigV4"], swiftSettings: strict),
        .testTarget(name: "NuageProvidersTests", dependencies: ["NuageProviders", "NuageTestSupport", "NuageS3Client", "NuageSigV4", .product(name: "NIOCore", package: "swift-nio")],
                    swiftSettings: strict),
        .testTarget(name: "NuageCatalogTests", dependencies: ["NuageCatalog", "NuageCatalogPostgres", "NuageTestSupport"], swiftSettings: strict),
        .testTarget(name: "NuageEngineTests", dependencies: ["NuageEngine", "NuageConfig", "NuageTestSupport", "NuageS3Client", "NuageSigV4"],
                    swiftSettings: strict),
        .testTarget(name: "NuageCLITests", dependencies: ["NuageConfig", "NuageTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "NuageServerTests",
            dependencies: ["NuageServer", "NuageConfig", "NuageSigV4", "NuageTestSupport",
                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOHTTPTypes", package: "swift-nio-extras")],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
