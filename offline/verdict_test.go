package offline_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/internal/brokertest"
	"github.com/failsmall/breakglass/offline"
)

// TestCheckRevocations: the one verdict refuses a list of another issuer,
// an older or stale list, a credential with no jti, and a listed grant; it
// accepts the others and returns the list.
func TestCheckRevocations(t *testing.T) {
	f := newFixture(t)
	list := mustRevocations(t, f, start, time.Hour, 7, "grant-0", "grant-1")
	now := start.Add(10 * time.Minute)
	for _, tc := range []struct {
		name   string
		jws    string
		issuer string
		minSeq uint64
		grant  string
		now    time.Time
		want   error // nil: accepted
		inMsg  string
	}{
		{"not listed", list, brokertest.Name, 0, "grant-2", now, nil, ""},
		{"the sequence already seen", list, brokertest.Name, 7, "grant-2", now, nil, ""},
		{"listed", list, brokertest.Name, 0, "grant-1", now, offline.ErrRevoked, "grant grant-1 is in revocation list 7 issued 2026-11-25T21:00:00Z"},
		{"another issuer's list", list, "bg.other", 0, "grant-2", now, offline.ErrBadRevocations, `issued by "bg.test", not by "bg.other"`},
		{"an older list than one seen", list, brokertest.Name, 8, "grant-2", now, offline.ErrRevocationsRollback, "sequence 7, already saw 8"},
		{"no jti", list, brokertest.Name, 0, "", now, offline.ErrBadRevocations, "no jti"},
		{"stale", list, brokertest.Name, 0, "grant-2", start.Add(2 * time.Hour), offline.ErrRevocationsExpired, "expired at"},
		{"not a list", "e30.e30.e30", brokertest.Name, 0, "grant-2", now, offline.ErrBadRevocations, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := offline.CheckRevocations(tc.jws, f.keys.JWKS(), tc.issuer, tc.minSeq, tc.grant, tc.now)
			if tc.want == nil {
				if err != nil || l == nil || l.Sequence != 7 {
					t.Fatalf("CheckRevocations = %+v, %v; want list 7", l, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.inMsg) || l != nil {
				t.Fatalf("CheckRevocations = %+v, %v; want %v containing %q and no list", l, err, tc.want, tc.inMsg)
			}
			var rev *offline.RevokedError
			if errors.As(err, &rev) != (tc.want == offline.ErrRevoked) {
				t.Errorf("err %v: *RevokedError %v, want it exactly for a listed grant", err, rev)
			}
		})
	}
}
