package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/failsmall/breakglass/broker"
)

// MaxBody bounds every request body.
const MaxBody = 64 << 10

// RequestJSON is a request on the wire.
type RequestJSON struct {
	ID              string         `json:"id"`
	Role            string         `json:"role"`
	Requester       string         `json:"requester"`
	Reason          string         `json:"reason"`
	Incident        string         `json:"incident,omitempty"`
	Duration        string         `json:"duration"`
	Created         time.Time      `json:"created"`
	Expires         time.Time      `json:"expires"`
	State           broker.State   `json:"state"`
	SupersededBy    string         `json:"superseded_by,omitempty"` // the bundle that superseded it
	Updated         time.Time      `json:"updated"`
	Policy          string         `json:"policy"`
	Statement       string         `json:"statement"`
	StatementDigest string         `json:"statement_digest"`
	Approvals       []ApprovalJSON `json:"approvals,omitempty"`
	Grant           *GrantJSON     `json:"grant,omitempty"`
}

// ApprovalJSON is an approval or denial on the wire.
type ApprovalJSON struct {
	Approver       string      `json:"approver"`
	Kind           broker.Kind `json:"kind"`
	Key            string      `json:"key"`
	KeyType        string      `json:"key_type"`
	UserVerified   bool        `json:"user_verified"`
	CounterWarning bool        `json:"counter_warning,omitempty"`
	Created        time.Time   `json:"created"`
	Statement      string      `json:"statement"`
	Signature      string      `json:"signature"`
}

// GrantJSON is a grant on the wire; Token only in credential responses.
type GrantJSON struct {
	ID        string    `json:"id"`
	Request   string    `json:"request"`
	Role      string    `json:"role"`
	Requester string    `json:"requester"`
	Approvers []string  `json:"approvers"`
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`
	Revoked   time.Time `json:"revoked,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
	KeyID     string    `json:"kid"`
	Token     string    `json:"token,omitempty"`
	// SSHCertificate is the grant's OpenSSH user certificate, in
	// authorized_keys form, only in credential responses; SSHSerial its
	// serial.
	SSHCertificate string `json:"ssh_certificate,omitempty"`
	SSHSerial      uint64 `json:"ssh_serial,omitempty"`
}

func requestJSON(r *broker.Request) RequestJSON {
	return RequestJSON{ID: r.ID, Role: r.Role, Requester: r.Requester, Reason: r.Reason, Incident: r.Incident,
		Duration: broker.FormatDuration(r.Duration), Created: r.Created.UTC(), Expires: r.Expires.UTC(),
		State: r.State, SupersededBy: r.SupersededBy, Updated: r.Updated.UTC(), Policy: r.PolicyHash, Statement: string(r.Statement),
		StatementDigest: r.StatementDigest}
}

func viewJSON(v *broker.RequestView) RequestJSON {
	out := requestJSON(v.Request)
	for _, a := range v.Approvals {
		out.Approvals = append(out.Approvals, ApprovalJSON{Approver: a.Approver, Kind: a.Kind, Key: a.KeyFingerprint,
			KeyType: a.KeyType, UserVerified: a.UserVerified, CounterWarning: a.CounterWarning, Created: a.Created.UTC(),
			Statement: string(a.Statement), Signature: string(a.Signature)})
	}
	if v.Grant != nil {
		g := grantJSON(v.Grant)
		out.Grant = &g
	}
	return out
}

func grantJSON(g *broker.Grant) GrantJSON {
	out := GrantJSON{ID: g.ID, Request: g.RequestID, Role: g.Role, Requester: g.Requester, Approvers: g.Approvers,
		Issued: g.Issued.UTC(), Expires: g.Expires.UTC(), RevokedBy: g.RevokedBy, KeyID: g.KeyID, Token: g.Token,
		SSHCertificate: g.SSHCert, SSHSerial: g.SSHSerial}
	if !g.Revoked.IsZero() {
		out.Revoked = g.Revoked.UTC()
	}
	return out
}

// ErrorJSON is every error response's body.
type ErrorJSON struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decode reads a size-limited JSON body into v, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("%w: more than %d bytes", errTooLarge, MaxBody)
		}
		return fmt.Errorf("%w: %v", errBadBody, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON object", errBadBody)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError answers with err's status and code. Errors the table doesn't
// know are logged once here and shown as a generic message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, code, known := classify(err)
	var body ErrorJSON
	body.Error.Code = code
	body.Error.Message = err.Error()
	if !known {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error.Message = "internal error; the broker's log has the details"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, body)
}
