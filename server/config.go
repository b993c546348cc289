package server

import (
	"log/slog"
	"time"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/upstream"
	"github.com/failsmall/breakglass/web"
)

// Config is everything a running broker needs. Name and Data are required;
// the zero value of every other field is a working default.
type Config struct {
	// Name identifies the broker in statements, as the JWT issuer and as
	// the audit log's origin, which cannot change for a data folder.
	Name string
	// Addr is where to serve HTTP ("host:port"; port 0 picks one). Empty
	// serves nothing and runs no background task: the store, keys and
	// policy open, for a one-shot job such as `breakglass init`.
	Addr string
	// Data is the data folder, created when missing.
	Data Dir
	// Logger gets the broker's log; nil discards it.
	Logger *slog.Logger
	// Pin is a signed bundle to pin when the store has none (init).
	Pin []byte
	// Local is a policy file signed with local admin keys whenever it
	// changes (serve --dev, tests); nil for none.
	Local *LocalPolicy
	// Sources are the upstream bundle sources (URLs and paths), SCIM the
	// live directory; PollEvery and PollTimeout pace them (zero: the
	// upstream package's defaults).
	Sources                []string
	SCIM                   *upstream.SCIMSource
	PollEvery, PollTimeout time.Duration
	// SweepEvery is how often lapsed requests and grants are expired and
	// the keyring re-read (default 5s).
	SweepEvery time.Duration
	// SSHCA says where the SSH CA key is (see SSHCASource).
	SSHCA SSHCASource
	// Witnesses cosign the audit checkpoints.
	Witnesses []audit.WitnessConfig
	// AuditPublic serves the audit entries' contents to anyone
	// (web.Config.AuditPublic); false, the default, needs a session for
	// them, and serves checkpoints, proofs and hashes to anyone.
	AuditPublic bool
	// RevocationsMaxAge is the max age of the published revocation list
	// (default broker.DefaultRevocationsMaxAge).
	RevocationsMaxAge time.Duration
	// Limits bounds the costly routes anyone can call, per source address
	// (zero: web's defaults).
	Limits web.Limits
	// Clock is the service's clock (nil: the wall clock); tests set it to
	// issue grants whose validity has already lapsed.
	Clock broker.Clock
}
