package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/failsmall/breakglass/audit"
)

// The broker's invariant over its audit log: every grant it holds has its
// grant.issued entry, every grant.issued entry names a grant it holds, and
// every row that decides access agrees with the grant's entries: its issue
// time and expiry with grant.issued, its revocation with grant.revoked, its
// delisting with grant.delisted, and its request's state with all of them
// (revoked once a grant.revoked entry exists, else expired once a
// grant.expired entry does, else issued). The log core verifies hashes and
// signatures and knows no event type; this check knows the broker's.

// AuditStore is the read side of a store that keeps the audit log beside
// the broker's state.
type AuditStore interface {
	// ReadAudit calls fn with a consistent snapshot of the log.
	ReadAudit(ctx context.Context, fn func(audit.Source) error) error
	// GrantRecords returns every grant ever issued, as its rows say, in
	// any order.
	GrantRecords(ctx context.Context) ([]GrantRecord, error)
}

// GrantRecord is what the store's rows say of a grant: the fields that
// decide access.
type GrantRecord struct {
	ID, RequestID     string
	Issued, Expires   time.Time
	Revoked, Delisted bool
	// State is the grant's request's state.
	State State
}

// VerifyAudit verifies the log of st with audit.VerifyLog and opts, then
// checks the invariant above. It returns the log's report and the number
// of grants checked.
//
// The grants are read before the log's snapshot and again after it, so
// that grants issued or changed meanwhile cause no false alarm: a grant
// read before has its entry in the snapshot, an entry in the snapshot has
// its grant in the second read, and a grant is reported as disagreeing
// with its entries only when both reads of its rows do (a tampered row
// stays tampered; a revocation landing between the reads agrees with one
// of them). Errors are VerifyLog's, a *MissingGrantEntryError or a
// *GrantRowError.
func VerifyAudit(ctx context.Context, st AuditStore, opts audit.VerifyOptions) (*audit.Report, int, error) {
	before, err := st.GrantRecords(ctx)
	if err != nil {
		return nil, 0, err
	}
	entries := NewGrantEntries()
	var rep *audit.Report
	err = st.ReadAudit(ctx, func(src audit.Source) error {
		rep, err = audit.VerifyLog(entries.Source(src), opts)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	after, err := st.GrantRecords(ctx)
	if err != nil {
		return nil, 0, err
	}
	return rep, len(before), entries.Check(before, after)
}

// GrantLog is what a grant's audit entries say of it.
type GrantLog struct {
	// Index is the grant.issued entry's; -1 when the log has none.
	Index                      int64
	RequestID                  string
	Issued, Expires            time.Time
	Revoked, Expired, Delisted bool
}

// NoteGrant updates gl with e, one of its grant's entries; entries of
// other types change nothing.
func (gl *GrantLog) NoteGrant(i int64, e *audit.Entry) error {
	switch e.Type {
	case EventGrantIssued:
		var d struct {
			Issued  time.Time `json:"issued"`
			Expires time.Time `json:"expires"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return fmt.Errorf("audit: entry %d (%s): %w", i, e.Type, err)
		}
		gl.Index, gl.RequestID, gl.Issued, gl.Expires = i, e.Subjects[0], d.Issued, d.Expires
	case EventGrantRevoked:
		gl.Revoked = true
	case EventGrantExpired:
		gl.Expired = true
	case EventGrantDelisted:
		gl.Delisted = true
	}
	return nil
}

// State is the request state the entries imply.
func (gl *GrantLog) State() State {
	switch {
	case gl.Revoked:
		return StateRevoked
	case gl.Expired:
		return StateExpired
	}
	return StateIssued
}

// Disagreement names the first access-deciding field of row that the log
// contradicts, with both values; "" when they agree.
func (gl *GrantLog) Disagreement(row GrantRecord) string {
	yes := func(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
	for _, f := range []struct{ name, row, log string }{
		{"request", row.RequestID, gl.RequestID},
		{"issue time", row.Issued.UTC().Format(time.RFC3339Nano), gl.Issued.UTC().Format(time.RFC3339Nano)},
		{"expiry", row.Expires.UTC().Format(time.RFC3339Nano), gl.Expires.UTC().Format(time.RFC3339Nano)},
		{"revoked", yes(row.Revoked), yes(gl.Revoked)},
		{"delisted", yes(row.Delisted), yes(gl.Delisted)},
		{"request state", string(row.State), string(gl.State())},
	} {
		if f.row != f.log {
			return fmt.Sprintf("%s is %s in the database, %s in the log", f.name, f.row, f.log)
		}
	}
	return ""
}

// GrantEntries notes what the log says of each grant as a verifier reads
// the log through Source; the verifier succeeding means each entry was
// hash-checked. Make one with NewGrantEntries.
type GrantEntries struct {
	grants map[string]*GrantLog // by grant id
	err    error
}

// NewGrantEntries returns an empty GrantEntries.
func NewGrantEntries() *GrantEntries { return &GrantEntries{grants: map[string]*GrantLog{}} }

// Source returns src, noting every grant entry read through it.
func (g *GrantEntries) Source(src audit.Source) audit.Source { return &grantSource{Source: src, g: g} }

// grantPrefix starts the encoding of every grant.* entry.
var grantPrefix = []byte(audit.EntryPrefix + `{"type":"grant.`)

// Note records entry i if it is a grant entry naming [request, grant].
func (g *GrantEntries) Note(i int64, leaf []byte) {
	// A cheap look at the type, before parsing: most entries are not grants'.
	if !bytes.HasPrefix(leaf, grantPrefix) {
		return
	}
	e, err := audit.ParseEntry(leaf)
	if err != nil || len(e.Subjects) != 2 || !strings.HasPrefix(e.Type, "grant.") {
		return
	}
	gl := g.grants[e.Subjects[1]]
	if gl == nil {
		gl = &GrantLog{Index: -1}
		g.grants[e.Subjects[1]] = gl
	}
	if err := gl.NoteGrant(i, e); err != nil && g.err == nil {
		g.err = err
	}
}

// Check returns a *MissingGrantEntryError when a grant of held (the grants
// the store held before the log was read) has no grant.issued entry, or an
// entry names a grant missing from later (the grants it held after), and a
// *GrantRowError when neither read of a grant's rows agrees with its
// entries.
func (g *GrantEntries) Check(held, later []GrantRecord) error {
	if g.err != nil {
		return g.err
	}
	have := make(map[string]GrantRecord, len(later))
	for _, r := range later {
		have[r.ID] = r
	}
	for _, r := range held {
		gl := g.grants[r.ID]
		if gl == nil || gl.Index < 0 {
			return &MissingGrantEntryError{Grant: r.ID, Index: -1}
		}
		if d := gl.Disagreement(r); d != "" {
			if l, ok := have[r.ID]; !ok || gl.Disagreement(l) != "" {
				return &GrantRowError{Grant: r.ID, Index: gl.Index, Disagreement: d}
			}
		}
	}
	for id, gl := range g.grants {
		if gl.Index < 0 {
			continue // a revocation or expiry with no issuance: the held check reports the grant
		}
		if _, ok := have[id]; !ok {
			return &MissingGrantEntryError{Grant: id, Index: gl.Index}
		}
	}
	return nil
}

type grantSource struct {
	audit.Source
	g *GrantEntries
}

func (s *grantSource) Entry(i int64) ([]byte, error) {
	b, err := s.Source.Entry(i)
	if err == nil {
		s.g.Note(i, b)
	}
	return b, err
}

// MissingGrantEntryError: a grant in the store has no grant.issued entry in
// the log, or an entry names a grant the store lacks.
type MissingGrantEntryError struct {
	Grant string
	Index int64 // the entry, for a grant missing from the store; -1 otherwise
}

func (e *MissingGrantEntryError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("audit: entry %d issued grant %s, which the database does not have (deleted grant row)", e.Index, e.Grant)
	}
	return fmt.Sprintf("audit: grant %s has no grant.issued entry in the log (a grant issued without its audit record)", e.Grant)
}

// GrantRowError: a grant's rows disagree with its audit entries, as an
// edited database would (an un-revoked grant, an extended expiry).
type GrantRowError struct {
	Grant        string
	Index        int64 // its grant.issued entry
	Disagreement string
}

func (e *GrantRowError) Error() string {
	return fmt.Sprintf("audit: grant %s (issued in entry %d): %s (the database was edited: restore it from a backup)", e.Grant, e.Index, e.Disagreement)
}
