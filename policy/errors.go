package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Evaluation errors. CheckRequest, CheckApprover and QuorumResult.Ignored
// wrap exactly one of them (with %w and details), so callers map them with
// errors.Is.
var (
	ErrUnknownRole      = errors.New("unknown role")
	ErrUnknownPrincipal = errors.New("unknown principal")
	ErrDisabled         = errors.New("principal disabled")
	ErrNotRequester     = errors.New("not allowed to request this role")
	ErrSelfApproval     = errors.New("requester cannot approve their own request")
	ErrNotEligible      = errors.New("not eligible to approve this role")
	ErrReason           = errors.New("invalid reason")
	ErrIncident         = errors.New("invalid incident reference")
	ErrDuration         = errors.New("invalid duration")
)

// Problem is one thing wrong with a policy file.
type Problem struct {
	Line  int    // 1-based line in the file; 0 when unknown
	Field string // path like "roles[1].approval[0].count"; empty for the whole file
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError is what Parse returns for a file it rejects: every problem
// it found, ordered by line.
type ValidationError struct {
	Problems []Problem
}

// Error returns one problem per line, e.g.
// "line 12: roles[1].approval[0].count: needs 3 approvers from [sre] but only 2 principals are eligible".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
