package broker

// The broker's audit event types: the Type of every Event the broker
// appends. The log checks only their shape ("domain.event", see
// audit.CheckType); which types exist, and what each one's subjects and
// data hold, is the broker's vocabulary. Other domains (rollout, drills,
// notifications) define theirs beside their own code.
const (
	// EventRequestCreated: subjects [request]; data the signed request
	// statement, its signature, signer and key.
	EventRequestCreated = "request.created"
	// EventApprovalRecorded and EventDenialRecorded: subjects [request];
	// data the signed statement, its signature, signer and key.
	EventApprovalRecorded = "approval.recorded"
	EventDenialRecorded   = "denial.recorded"
	// EventRequestCancelled and EventRequestExpired: subjects [request].
	EventRequestCancelled = "request.cancelled"
	EventRequestExpired   = "request.expired"
	// EventRequestSuperseded: subjects [request]; data the bundle that
	// superseded it and the policy the request was made under.
	EventRequestSuperseded = "request.superseded"
	// EventGrantIssued: subjects [request, grant]. Every grant has exactly
	// one (VerifyAudit checks it), and a credential's audit receipt proves it.
	EventGrantIssued = "grant.issued"
	// EventCredentialsFetched: subjects [request, grant].
	EventCredentialsFetched = "credentials.fetched"
	// EventGrantRevoked and EventGrantExpired: subjects [request, grant].
	EventGrantRevoked = "grant.revoked"
	EventGrantExpired = "grant.expired"
	// EventGrantDelisted: subjects [request, grant]; a revoked grant left
	// the revocation list, its expiry plus MaxVerifySkew having passed.
	EventGrantDelisted = "grant.delisted"
	// Policy events: subjects the policy or bundle hash, when there is one.
	EventPolicyLoaded    = "policy.loaded"
	EventPolicyRejected  = "policy.rejected"
	EventPolicyActivated = "policy.activated"
	// EventDirectoryChanged: a directory source changed what it takes away;
	// subjects the principals it newly turned off.
	EventDirectoryChanged = "directory.changed"
	// EventKeyRotated: subjects [new kid]; data {"old","new"} (RotateKey).
	EventKeyRotated = "key.rotated"
	// EventBrokerRestored: the database was put back from a backup (see
	// RecordRestore): no subjects; data the backup's log size and the size
	// of the log it replaced, so witnesses and verifiers see the fork
	// from the replaced log is deliberate.
	EventBrokerRestored = "broker.restored"
	// EventBrokerStarted and EventBrokerStopped: no subjects.
	EventBrokerStarted = "broker.started"
	EventBrokerStopped = "broker.stopped"
)
