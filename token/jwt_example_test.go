package token_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/failsmall/breakglass/token"
)

// A relying party verifies a breakglass credential offline, with the JWKS it
// fetched from the broker and cached.
func ExampleVerify() {
	tmp, err := os.MkdirTemp("", "keyring")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	now := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	// The broker side: a keyring mints the credential and publishes the JWKS.
	keys, err := token.OpenKeyring(filepath.Join(tmp, "jwt-keys"), 2*time.Hour, clock)
	if err != nil {
		panic(err)
	}
	jwt, err := keys.Mint(token.Claims{
		Issuer: "https://bg.example.net", Subject: "alice", Audience: []string{"prod-db"},
		IssuedAt: now, NotBefore: now, Expiry: now.Add(30 * time.Minute),
		ID: "01JD2XGRANT", Role: "prod-db-admin", Scopes: []string{"db:admin"},
		Incident: "INC-4812", Approvers: []string{"bob", "carol"},
	})
	if err != nil {
		panic(err)
	}
	published, err := json.Marshal(keys.JWKS())
	if err != nil {
		panic(err)
	}

	// The relying party side.
	jwks, err := token.ParseJWKS(published)
	if err != nil {
		panic(err)
	}
	opts := token.VerifyOptions{
		Issuer:   "https://bg.example.net",
		Audience: "prod-db",
		Leeway:   30 * time.Second,
		Now:      func() time.Time { return now.Add(10 * time.Minute) },
	}
	c, err := token.Verify(jwt, jwks, opts)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Subject, c.Role, c.Scopes, c.Incident, c.Approvers, c.Expiry.Format(time.RFC3339))

	opts.Now = func() time.Time { return now.Add(time.Hour) }
	_, err = token.Verify(jwt, jwks, opts)
	fmt.Println(errors.Is(err, token.ErrExpired), err)
	// Output:
	// alice prod-db-admin [db:admin] INC-4812 [bob carol] 2026-11-25T21:30:00Z
	// true token expired: exp 2026-11-25T21:30:00Z is not after now 2026-11-25T22:00:00Z (leeway 30s)
}
