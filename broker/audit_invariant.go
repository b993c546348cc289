package broker

import (
	"bytes"
	"context"
	"fmt"

	"github.com/failsmall/breakglass/audit"
)

// The broker's invariant over its audit log: every grant it holds has its
// grant.issued entry, and every grant.issued entry names a grant it holds.
// The log core verifies hashes and signatures and knows no event type; this
// check knows the broker's.

// AuditStore is the read side of a store that keeps the audit log beside
// the broker's state.
type AuditStore interface {
	// ReadAudit calls fn with a consistent snapshot of the log.
	ReadAudit(ctx context.Context, fn func(audit.Source) error) error
	// GrantIDs returns the id of every grant ever issued, in any order.
	GrantIDs(ctx context.Context) ([]string, error)
}

// VerifyAudit verifies the log of st with audit.VerifyLog and opts, then
// checks the invariant: every grant has its grant.issued entry and every
// such entry its grant. It returns the log's report and the number of
// grants checked.
//
// The grants are read before the log's snapshot and again after it, so
// that grants issued meanwhile cause no false alarm: a grant read before
// has its entry in the snapshot, and an entry in the snapshot has its grant
// in the second read. Errors are VerifyLog's, or a *MissingGrantEntryError.
func VerifyAudit(ctx context.Context, st AuditStore, opts audit.VerifyOptions) (*audit.Report, int, error) {
	before, err := st.GrantIDs(ctx)
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
	after, err := st.GrantIDs(ctx)
	if err != nil {
		return nil, 0, err
	}
	return rep, len(before), entries.Check(before, after)
}

// GrantEntries notes the grant each grant.issued entry names as a verifier
// reads the log through Source; the verifier succeeding means each entry
// was hash-checked. Make one with NewGrantEntries.
type GrantEntries struct {
	issued map[string]int64 // grant id -> entry index
}

// NewGrantEntries returns an empty GrantEntries.
func NewGrantEntries() *GrantEntries { return &GrantEntries{issued: map[string]int64{}} }

// Source returns src, noting every grant.issued entry read through it.
func (g *GrantEntries) Source(src audit.Source) audit.Source { return &grantSource{Source: src, g: g} }

// Note records entry i if it is a grant.issued entry naming
// [request, grant].
func (g *GrantEntries) Note(i int64, leaf []byte) {
	// A cheap look at the type, before parsing: most entries are not grants.
	if !bytes.HasPrefix(leaf, grantIssuedPrefix) {
		return
	}
	if e, err := audit.ParseEntry(leaf); err == nil && e.Type == EventGrantIssued && len(e.Subjects) == 2 {
		g.issued[e.Subjects[1]] = i
	}
}

// Check returns a *MissingGrantEntryError when a grant of held (the grants
// the store held before the log was read) has no grant.issued entry, or an
// entry names a grant missing from later (the grants it held after).
func (g *GrantEntries) Check(held, later []string) error {
	for _, id := range held {
		if _, ok := g.issued[id]; !ok {
			return &MissingGrantEntryError{Grant: id, Index: -1}
		}
	}
	have := make(map[string]bool, len(later))
	for _, id := range later {
		have[id] = true
	}
	for id, i := range g.issued {
		if !have[id] {
			return &MissingGrantEntryError{Grant: id, Index: i}
		}
	}
	return nil
}

// grantIssuedPrefix starts the encoding of every grant.issued entry.
var grantIssuedPrefix = []byte(audit.EntryPrefix + `{"type":"` + EventGrantIssued + `"`)

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
