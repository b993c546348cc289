package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
	"github.com/failsmall/breakglass/broker"
	"github.com/failsmall/breakglass/token"
)

// ReceiptResult is what a verified audit receipt proves: the credential's
// grant.issued entry is at Index in the broker's log, whose checkpoint of
// Size entries is signed by the log key named Origin and cosigned by
// Witnesses.
type ReceiptResult struct {
	Index  int64  // leaf index of the grant.issued entry
	Size   int64  // tree size of the receipt's checkpoint
	Origin string // the log's name: its key's name
	// Witnesses are the names of the witnesses whose cosignatures verified,
	// sorted; nil when no witness quorum was asked.
	Witnesses []string
}

// grantIssued is the part of a grant.issued entry's data that the
// credential also carries (see broker's mint).
type grantIssued struct {
	Grant     string    `json:"grant"`
	Request   string    `json:"request"`
	Role      string    `json:"role"`
	Requester string    `json:"requester"`
	Incident  string    `json:"incident"`
	Approvers []string  `json:"approvers"`
	Policy    string    `json:"policy"`
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`
}

// checkReceipt verifies m.Receipt for the credential c: it parses, carries
// its leaf as extra, proves that leaf in a checkpoint signed by m.LogKey
// (and cosigned by m.WitnessQuorum of m.Witnesses when above 0), and the
// leaf is the grant.issued entry of c's grant with c's request, role,
// requester, incident, approvers, policy, issue time and expiry.
func (m *Material) checkReceipt(c *token.Claims) (*ReceiptResult, error) {
	if m.LogKey == nil {
		return nil, fmt.Errorf("%w: an audit receipt was given without the broker's log key (its audit-key.pub) to verify it", ErrNoLogKey)
	}
	r, err := audit.ParseReceipt(m.Receipt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if len(r.Extra) == 0 {
		return nil, fmt.Errorf("%w: it does not carry its audit entry (a receipt from an older broker): fetch it again with `breakglass token ID --receipt FILE` from a current broker", ErrBadReceipt)
	}
	cp, _, err := audit.Open(r.Checkpoint, m.LogKey)
	if err != nil {
		return nil, fmt.Errorf("%w: its checkpoint is not signed by log key %s: %w", ErrReceiptUnverified, m.LogKey.Name(), err)
	}
	if err := audit.CheckInclusion(r.Proof, cp.Size, cp.Hash, r.Index, r.Extra); err != nil {
		return nil, fmt.Errorf("%w: its entry is not at index %d of the checkpoint of size %d: %w", ErrReceiptUnverified, r.Index, cp.Size, err)
	}
	res := &ReceiptResult{Index: r.Index, Size: cp.Size, Origin: cp.Origin}
	if m.WitnessQuorum > 0 {
		if res.Witnesses, err = m.cosigners(r.Checkpoint); err != nil {
			return nil, err
		}
	}
	if err := matchEntry(r.Extra, c); err != nil {
		return nil, err
	}
	return res, nil
}

// cosigners returns the names of the witnesses of m.Witnesses (other than
// the log key itself) whose cosignatures of signed verify, failing with
// ErrWitnessQuorum when fewer than m.WitnessQuorum do.
func (m *Material) cosigners(signed []byte) ([]string, error) {
	if m.Witnesses == nil {
		return nil, fmt.Errorf("%w: a quorum of %d was asked but no witness keys were given", ErrWitnessQuorum, m.WitnessQuorum)
	}
	var names []string
	n, err := note.Open(signed, m.Witnesses)
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrWitnessQuorum, err)
	default:
		for _, s := range n.Sigs {
			if s.Name == m.LogKey.Name() && s.Hash == m.LogKey.KeyHash() {
				continue
			}
			if !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
	}
	if len(names) < m.WitnessQuorum {
		return nil, fmt.Errorf("%w: %d of the given witnesses cosigned the receipt's checkpoint, want %d", ErrWitnessQuorum, len(names), m.WitnessQuorum)
	}
	slices.Sort(names)
	return names, nil
}

// matchEntry checks that leaf is the grant.issued entry of c's grant.
func matchEntry(leaf []byte, c *token.Claims) error {
	e, err := audit.ParseEntry(leaf)
	if err != nil {
		return fmt.Errorf("%w: its entry: %w", ErrBadReceipt, err)
	}
	if e.Type != broker.EventGrantIssued {
		return fmt.Errorf("%w: it proves a %s entry, not a %s entry", ErrReceiptMismatch, e.Type, broker.EventGrantIssued)
	}
	var d grantIssued
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("%w: its %s entry's data: %w", ErrBadReceipt, e.Type, err)
	}
	for _, f := range [][3]string{{"grant", d.Grant, c.ID}, {"request", d.Request, c.RequestID}, {"role", d.Role, c.Role},
		{"requester", d.Requester, c.Subject}, {"incident", d.Incident, c.Incident}, {"policy", d.Policy, c.PolicyHash}} {
		if f[1] != f[2] {
			return fmt.Errorf("%w: %s is %q in the audit entry, %q in the credential", ErrReceiptMismatch, f[0], f[1], f[2])
		}
	}
	if !slices.Equal(d.Approvers, c.Approvers) {
		return fmt.Errorf("%w: approvers are %q in the audit entry, %q in the credential", ErrReceiptMismatch, d.Approvers, c.Approvers)
	}
	for _, f := range []struct {
		name          string
		entry, claims time.Time
	}{{"issue time", d.Issued, c.IssuedAt}, {"expiry", d.Expires, c.Expiry}} {
		if !f.entry.Equal(f.claims) {
			return fmt.Errorf("%w: the %s is %s in the audit entry, %s in the credential", ErrReceiptMismatch, f.name,
				rfc3339(f.entry), rfc3339(f.claims))
		}
	}
	return nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "missing"
	}
	return t.UTC().Format(time.RFC3339)
}
