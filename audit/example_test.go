package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
)

// A relying party holds a credential's audit receipt, the entry it proves,
// and the log's verifier key. It checks them offline.
func ExampleReceipt_Verify() {
	// The log side: a fixed key, three entries, a signed checkpoint.
	skey, vkey, _ := audit.NewKeyFromSeed("bg.example.net/audit", bytes.Repeat([]byte{7}, ed25519.SeedSize))
	signer, _ := note.NewSigner(skey)
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	var leaves [][]byte
	for i, actor := range []string{"alice", "bob", "carol"} {
		e := audit.Entry{
			Type:     "approval.recorded",
			Time:     time.Date(2026, 11, 25, 21, 0, i, 0, time.UTC),
			Actor:    actor,
			Subjects: []string{"req-1"},
			Data:     json.RawMessage(`{}`),
		}
		leaf, _ := e.Marshal()
		hashes, _ := audit.StoredHashes(int64(i), leaf, reader)
		stored = append(stored, hashes...)
		leaves = append(leaves, leaf)
	}
	root, _ := audit.TreeHash(3, reader)
	signed, _ := audit.Sign(audit.Checkpoint{Origin: "bg.example.net/audit", Size: 3, Hash: root}, signer)
	proof, _ := audit.ProveInclusion(1, 3, reader)
	encoded := (&audit.Receipt{Index: 1, Proof: proof, Checkpoint: signed}).Marshal()

	// The relying party's side.
	verifier, _ := note.NewVerifier(vkey)
	receipt, err := audit.ParseReceipt(encoded)
	if err != nil {
		fmt.Println("bad receipt:", err)
		return
	}
	fmt.Println("bob's approval:", receipt.Verify(leaves[1], verifier))
	fmt.Println("carol's approval:", receipt.Verify(leaves[2], verifier) != nil)
	// Output:
	// bob's approval: <nil>
	// carol's approval: true
}
