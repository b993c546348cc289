package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/offline"
	"github.com/failsmall/breakglass/token"
)

// TestCheckRevokedCachedList: a cached list is used only while fresh, only
// for its issuer, and refuses exactly the grants it lists.
func TestCheckRevokedCachedList(t *testing.T) {
	keys, err := token.OpenKeyring(filepath.Join(t.TempDir(), "keys"), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	write := func(name string, issued time.Time) string {
		t.Helper()
		jws, err := token.RevocationPublisher{Signer: keys}.SignRevocations(broker.RevocationList{
			Issuer: "bg.test", Sequence: 5, Issued: issued, MaxAge: time.Hour, Revoked: []string{"g-revoked"}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(jws+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	fresh, stale := write("fresh.jws", now), write("stale.jws", now.Add(-2*time.Hour))
	for _, tc := range []struct {
		name, file, iss, id string
		want                string // "" for no error
	}{
		{"not listed", fresh, "bg.test", "g-other", ""},
		{"listed", fresh, "bg.test", "g-revoked", "token is NOT valid: grant g-revoked was revoked (revocation list #5 issued " + now.Format(time.RFC3339) + ")"},
		{"another issuer's list", fresh, "bg.other", "g-other", `issued by "bg.test", not by "bg.other"`},
		{"expired list", stale, "bg.test", "g-other", "expired at " + now.Add(-time.Hour).Format(time.RFC3339)},
		{"expired list says how to refresh it", stale, "bg.test", "g-other", "fetch a fresh one: breakglass revocations --out " + stale},
		{"no list: nothing checked", "", "bg.test", "g-revoked", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRevoked(context.Background(), nil, tc.file, keys.JWKS(), tc.iss, tc.id)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkRevoked: %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("checkRevoked: %v, want an error containing %q", err, tc.want)
			}
			if tc.file == stale && !errors.Is(err, offline.ErrRevocationsExpired) {
				t.Errorf("err = %v, want ErrRevocationsExpired", err)
			}
		})
	}
}

// TestServeFileRevocationsMaxAge: revocations_max_age in --config sets the
// list's max age unless --revocations-max-age was given.
func TestServeFileRevocationsMaxAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(path, []byte("name: bg.test\nrevocations_max_age: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  map[string]bool
		want time.Duration
	}{
		{"from the file", map[string]bool{}, 5 * time.Minute},
		{"the flag wins", map[string]bool{"revocations-max-age": true}, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := serveFile{RevocationsMaxAge: 2 * time.Hour}
			if err := readServeFile(path, &cfg, tc.set); err != nil {
				t.Fatalf("readServeFile: %v", err)
			}
			if cfg.RevocationsMaxAge != tc.want {
				t.Errorf("max age = %s, want %s", cfg.RevocationsMaxAge, tc.want)
			}
		})
	}
}

func TestCheckRevocationsMaxAge(t *testing.T) {
	for _, d := range []time.Duration{time.Second, time.Hour, offline.MaxRevocationAge} {
		if err := checkRevocationsMaxAge(d); err != nil {
			t.Errorf("%s: %v, want accepted", d, err)
		}
	}
	for _, d := range []time.Duration{0, -time.Hour, 1500 * time.Millisecond, offline.MaxRevocationAge + time.Second} {
		if err := checkRevocationsMaxAge(d); err == nil || !strings.Contains(err.Error(), "--revocations-max-age") {
			t.Errorf("%s: %v, want an error naming --revocations-max-age", d, err)
		}
	}
}
