/// What the placement policy knows about a provider: where its data sits and who controls it.
public struct ProviderDescriptor: Hashable, Sendable {
    public var name: String
    /// `directory` or `s3`.
    public var kind: String
    /// Where the data centre is.
    public var jurisdiction: Jurisdiction
    /// The company that controls the provider.
    public var operatorName: String
    /// Where that company is incorporated: it can be compelled there too.
    public var operatorJurisdiction: Jurisdiction

    /// `state = "draining"`: it gets no new shard, and `nuage providers drain` moves its shards
    /// to the others.
    public var draining: Bool

    public init(name: String, kind: String, jurisdiction: Jurisdiction,
                operatorName: String, operatorJurisdiction: Jurisdiction, draining: Bool = false) {
        self.name = name
        self.kind = kind
        self.jurisdiction = jurisdiction
        self.operatorName = operatorName
        self.operatorJurisdiction = operatorJurisdiction
        self.draining = draining
    }

    /// The jurisdiction groups this provider counts against (location and operator).
    public var jurisdictionGroups: Set<String> { [jurisdiction.group, operatorJurisdiction.group] }
}
