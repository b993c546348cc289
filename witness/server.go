package witness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/failsmall/breakglass/audit"
)

// Server cosigns checkpoints of known logs per c2sp.org/tlog-witness: it
// only cosigns a checkpoint that is consistent with the last one it
// cosigned for that origin, so a log cannot show two histories (fork) or
// go back (rollback) without one of them lacking its cosignature. Its state,
// the last cosigned checkpoint per origin, lives in files in one directory.
type Server struct {
	signer *audit.CosignatureSigner
	logs   map[string]note.Verifier
	state  *state

	// mu makes "check old size, verify, persist" atomic per the spec, so two
	// concurrent requests cannot roll the state back.
	mu sync.Mutex
}

// maxAddCheckpointBody bounds a request body.
const maxAddCheckpointBody = 64 << 10

// NewServer returns a witness named name (its key name) signing with key,
// cosigning the logs given as origin -> log key, keeping state in dir
// (created if missing), stamping cosignatures with now.
func NewServer(dir string, name string, key ed25519.PrivateKey, logs map[string]note.Verifier, now func() time.Time) (*Server, error) {
	s, err := audit.NewCosignatureSigner(name, key, now)
	if err != nil {
		return nil, fmt.Errorf("new witness: %w", err)
	}
	for origin, v := range logs {
		if v == nil || v.Name() != origin {
			return nil, fmt.Errorf("new witness: log %q: key must be named after the origin", origin)
		}
	}
	st, err := openState(dir)
	if err != nil {
		return nil, fmt.Errorf("new witness: %w", err)
	}
	return &Server{signer: s, logs: logs, state: st}, nil
}

// VerifierKey returns the witness's cosignature/v1 verifier key (type 0x04).
func (w *Server) VerifierKey() string { return w.signer.VerifierKey() }

// Handler serves POST /add-checkpoint.
func (w *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.serveAddCheckpoint)
	return mux
}

// Latest returns the last checkpoint the witness cosigned for origin
// (Size 0 and ok false if none).
func (w *Server) Latest(origin string) (audit.Checkpoint, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.load(origin)
}

func (w *Server) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxAddCheckpointBody))
	if err != nil {
		http.Error(rw, "request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp, code, err := w.AddCheckpoint(body)
	switch {
	case code == http.StatusConflict && resp != nil:
		rw.Header().Set("Content-Type", ContentTypeTlogSize)
		rw.WriteHeader(code)
		rw.Write(resp)
	case err != nil:
		http.Error(rw, err.Error(), code)
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(resp)
	}
}

// addRequest is a parsed add-checkpoint body.
type addRequest struct {
	old    int64
	proof  [][]byte
	signed []byte
}

// parseAddRequest parses "old N\n", up to 63 base64 hash lines, an empty
// line, then the signed checkpoint.
func parseAddRequest(body []byte) (addRequest, error) {
	var req addRequest
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok || !bytes.HasPrefix(line, []byte("old ")) {
		return req, errors.New("first line must be \"old <size>\"")
	}
	old, err := parseDecimal(string(line[len("old "):]))
	if err != nil {
		return req, fmt.Errorf("old size %q: %v", clip(string(line[4:])), err)
	}
	req.old = old
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return req, errors.New("no empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(req.proof) == maxProofHashes {
			return req, fmt.Errorf("more than %d consistency proof lines", maxProofHashes)
		}
		h, err := parseHash(string(line))
		if err != nil {
			return req, fmt.Errorf("proof line %d: %v", len(req.proof)+1, err)
		}
		req.proof = append(req.proof, h[:])
	}
	req.signed = rest
	return req, nil
}

// AddCheckpoint handles one add-checkpoint body and returns the response
// body and HTTP status: 200 with the cosignature line; 400 malformed (and
// old size above the checkpoint size: a rollback); 403 no valid log
// signature; 404 unknown origin; 409 with the witness's size when old does
// not match it, or when the root differs at the same size (fork); 422 when
// the consistency proof does not verify (fork).
func (w *Server) AddCheckpoint(body []byte) ([]byte, int, error) {
	req, err := parseAddRequest(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	origin, _, _ := bytes.Cut(req.signed, []byte("\n"))
	v, ok := w.logs[string(origin)]
	if !ok {
		return nil, http.StatusNotFound, fmt.Errorf("unknown log %q", clip(string(origin)))
	}
	c, n, err := audit.Open(req.signed, v)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, http.StatusForbidden, err
		}
		return nil, http.StatusBadRequest, err
	}
	if req.old > c.Size {
		return nil, http.StatusBadRequest, fmt.Errorf("rollback: old size %d is above the checkpoint size %d", req.old, c.Size)
	}
	if req.old == 0 && len(req.proof) > 0 {
		return nil, http.StatusBadRequest, errors.New("old size 0 takes no consistency proof")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if code, err := w.checkAgainstState(c, req); err != nil {
		if code == http.StatusConflict {
			latest, _, _ := w.state.load(c.Origin)
			return []byte(strconv.FormatInt(latest.Size, 10) + "\n"), code, err
		}
		return nil, code, err
	}
	line, err := w.cosign(n.Text)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	if err := w.state.save(c.Origin, req.signed); err != nil {
		return nil, http.StatusInternalServerError, err
	}
	return line, http.StatusOK, nil
}

// checkAgainstState checks c against the last cosigned checkpoint.
func (w *Server) checkAgainstState(c audit.Checkpoint, req addRequest) (int, error) {
	latest, have, err := w.state.load(c.Origin)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	if req.old != latest.Size {
		return http.StatusConflict, fmt.Errorf("old size %d, the witness is at %d", req.old, latest.Size)
	}
	if !have || req.old == 0 {
		return 0, nil
	}
	if req.old == c.Size {
		if c.Hash != latest.Hash {
			return http.StatusConflict, fmt.Errorf("fork: root %s at size %d, the witness cosigned %s", c.Hash, c.Size, latest.Hash)
		}
		return 0, nil
	}
	err = proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(req.old), uint64(c.Size), req.proof, latest.Hash[:], c.Hash[:])
	if err != nil {
		return http.StatusUnprocessableEntity, fmt.Errorf("fork: checkpoint %d is not consistent with the cosigned %d: %v", c.Size, latest.Size, err)
	}
	return 0, nil
}

// cosign returns the note signature line of a cosignature over text.
func (w *Server) cosign(text string) ([]byte, error) {
	sig, err := w.signer.Sign([]byte(text))
	if err != nil {
		return nil, err
	}
	raw := binary.BigEndian.AppendUint32(nil, w.signer.KeyHash())
	raw = append(raw, sig...)
	return []byte("— " + w.signer.Name() + " " + base64.StdEncoding.EncodeToString(raw) + "\n"), nil
}
