package offline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/failsmall/breakglass/policy"
)

// EvidenceVersion is the version field of the evidence encoding.
const EvidenceVersion = 1

// MaxEvidenceSize bounds an evidence file: a bundle of the largest policy,
// its signatures and the approvals, JSON-escaped.
const MaxEvidenceSize = 4*policy.MaxSize + 1<<20

// MaxApprovals bounds the approvals one evidence file may carry.
const MaxApprovals = 256

// Evidence is what a grant was decided on: the request's approval
// statement, the approvals over it, and the signed policy bundle the quorum
// was judged under. Its encoding is JSON with the fields in this order:
//
//	{"version":1,"statement":"...","approvals":[{"statement":"...","signature":"..."}],"bundle":"..."}
//
// Texts travel as JSON strings, so they must be valid UTF-8.
type Evidence struct {
	// Statement is the canonical approval statement of the request
	// (broker.Statement, kind approval).
	Statement string `json:"statement"`
	// Approvals are the approvals the grant counted.
	Approvals []Approval `json:"approvals"`
	// Bundle is the signed policy bundle (policy.ParseSignedBundle).
	Bundle string `json:"bundle"`
}

// Approval is one approver's signature over a statement.
type Approval struct {
	Statement string `json:"statement"` // the statement signed; must equal Evidence.Statement
	Signature string `json:"signature"` // armored SSHSIG, namespace hwkey.Namespace
}

type wireEvidence struct {
	Version int `json:"version"`
	Evidence
}

// Encode returns the JSON encoding. It fails on texts that are not valid
// UTF-8 (JSON would alter them) and on more than MaxApprovals approvals.
func (e *Evidence) Encode() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	w := wireEvidence{Version: EvidenceVersion, Evidence: *e}
	if w.Approvals == nil {
		w.Approvals = []Approval{} // "approvals": [] and not null, which ParseEvidence refuses
	}
	out, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvidence, err)
	}
	if len(out) > MaxEvidenceSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadEvidence, len(out), MaxEvidenceSize)
	}
	return out, nil
}

func (e *Evidence) check() error {
	if len(e.Approvals) > MaxApprovals {
		return fmt.Errorf("%w: %d approvals, more than %d", ErrBadEvidence, len(e.Approvals), MaxApprovals)
	}
	texts := map[string]string{"statement": e.Statement, "bundle": e.Bundle}
	for i, a := range e.Approvals {
		texts[fmt.Sprintf("approvals[%d].statement", i)] = a.Statement
		texts[fmt.Sprintf("approvals[%d].signature", i)] = a.Signature
	}
	for name, s := range texts {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadEvidence, name)
		}
	}
	return nil
}

// ParseEvidence decodes an evidence file. It is strict: one JSON object,
// version 1, no unknown fields, all fields present, at most MaxEvidenceSize
// bytes. Whether the contents verify is VerifyCredential's business. Errors
// wrap ErrBadEvidence.
func ParseEvidence(data []byte) (*Evidence, error) {
	if len(data) > MaxEvidenceSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadEvidence, len(data), MaxEvidenceSize)
	}
	var w struct {
		Version   *int        `json:"version"`
		Statement *string     `json:"statement"`
		Approvals *[]Approval `json:"approvals"`
		Bundle    *string     `json:"bundle"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvidence, err)
	}
	if dec.More() || dec.InputOffset() != int64(len(bytes.TrimRight(data, " \t\r\n"))) {
		return nil, fmt.Errorf("%w: data after the evidence object", ErrBadEvidence)
	}
	switch {
	case w.Version == nil || *w.Version != EvidenceVersion:
		return nil, fmt.Errorf("%w: want \"version\": %d", ErrBadEvidence, EvidenceVersion)
	case w.Statement == nil || w.Approvals == nil || w.Bundle == nil:
		return nil, fmt.Errorf("%w: statement, approvals and bundle are all required", ErrBadEvidence)
	}
	e := &Evidence{Statement: *w.Statement, Approvals: *w.Approvals, Bundle: *w.Bundle}
	if err := e.check(); err != nil {
		return nil, err
	}
	return e, nil
}
