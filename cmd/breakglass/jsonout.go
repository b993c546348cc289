package main

import (
	"time"

	"github.com/failsmall/breakglass/web"
)

// The --json outputs that are not a broker API type as is. Every field has
// an explicit snake_case name; docs/json.md documents each shape and
// TestJSONShapes pins them. Lists print as [], never null.

// listJSON is `list --json`.
type listJSON struct {
	Requests []web.RequestJSON `json:"requests"`
}

// keysJSON is `keys --json`.
type keysJSON struct {
	Keys []web.KeyJSON `json:"keys"`
}

// revocationsWrittenJSON is `revocations --out FILE --json`.
type revocationsWrittenJSON struct {
	File     string    `json:"file"`
	Issuer   string    `json:"issuer"`
	Sequence uint64    `json:"sequence"`
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
	Revoked  []string  `json:"revoked"`
}

// sshCAJSON is `ssh ca --json`.
type sshCAJSON struct {
	PublicKey   string   `json:"public_key"`
	Fingerprint string   `json:"fingerprint"`
	SSHDConfig  []string `json:"sshd_config"`
}

// sshKRLJSON is `ssh krl --out FILE --json`.
type sshKRLJSON struct {
	File           string   `json:"file"`
	Version        uint64   `json:"version"`
	RevokedSerials []uint64 `json:"revoked_serials"`
}

// sshCertJSON is `token --ssh --json`.
type sshCertJSON struct {
	Grant      string    `json:"grant"`
	File       string    `json:"file"`
	Serial     uint64    `json:"serial"`
	KeyID      string    `json:"key_id"`
	Principals []string  `json:"principals"`
	Expires    time.Time `json:"expires"`
}
