package broker

import (
	"context"
	"fmt"
	"time"
)

// DefaultRevocationsMaxAge is how long relying parties may use a revocation
// list when Config.RevocationsMaxAge is zero.
const DefaultRevocationsMaxAge = time.Hour

// DefaultMaxVerifySkew is Config.MaxVerifySkew's default: the most clock
// skew a relying party may allow when it checks a credential's expiry.
const DefaultMaxVerifySkew = 5 * time.Minute

// RevocationList is the content of the broker's published revocation list
// (token.RevocationList is its signed form; the fields are the same).
//
// Revoked holds the id of every revoked grant not yet delisted: Sweep
// delists a revoked grant once it has been expired for longer than
// Config.MaxVerifySkew, the most clock skew a relying party may allow, so
// that none still accepts its credentials. An expired grant's credentials
// are refused for their expiry alone, so the list stays as small as the
// grants live now.
//
// Sequence is derived from the store alone, not the clock, so that it never
// goes back, across restarts and clock steps alike, and is the same in
// every process sharing the store: the number of grants ever revoked plus
// the number ever delisted. Each revocation adds one entry and one to the
// first term; each delisting drops one entry and adds one to the second.
// So two lists with the same Sequence have the same entries, and a later
// list never has a lower Sequence.
type RevocationList struct {
	Issuer   string
	Sequence uint64
	Issued   time.Time
	MaxAge   time.Duration
	Revoked  []string
}

// RevocationSigner signs a revocation list for relying parties, with a key
// they already trust (the JWT key). Implementations MUST NOT block on I/O.
type RevocationSigner interface {
	SignRevocations(l RevocationList) (jws string, err error)
}

// Revocations builds the revocation list as of now from the store and
// returns it signed, with its content. It fails with ErrNotFound when the
// broker has no RevocationSigner.
func (s *Service) Revocations(ctx context.Context) (string, *RevocationList, error) {
	if s.cfg.RevocationSigner == nil {
		return "", nil, fmt.Errorf("%w: this broker publishes no revocation list", ErrNotFound)
	}
	now := s.cfg.Clock.Now().UTC().Truncate(time.Second)
	l := &RevocationList{Issuer: s.cfg.Name, Issued: now, MaxAge: s.cfg.RevocationsMaxAge}
	err := s.view(ctx, func(tx Tx) error {
		var err error
		if l.Revoked, err = tx.RevokedGrants(); err != nil {
			return err
		}
		l.Sequence, err = tx.RevocationSequence()
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("revocation list: %w", err)
	}
	if l.Revoked == nil {
		l.Revoked = []string{}
	}
	jws, err := s.cfg.RevocationSigner.SignRevocations(*l)
	if err != nil {
		return "", nil, fmt.Errorf("revocation list: %w", err)
	}
	return jws, l, nil
}
