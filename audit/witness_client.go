package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ErrWitnessConflict: the witness is at another size than the old size the
// log sent. Retry with the size in the *WitnessConflictError.
var ErrWitnessConflict = errors.New("witness conflict")

// ErrWitnessRefused: the witness will not cosign because the checkpoint
// forks or rolls back the history it cosigned. Do not retry: investigate.
var ErrWitnessRefused = errors.New("witness refused checkpoint")

// WitnessConflictError carries the size of the witness's latest cosigned
// checkpoint. It matches ErrWitnessConflict with errors.Is.
type WitnessConflictError struct{ Size int64 }

func (e *WitnessConflictError) Error() string {
	return fmt.Sprintf("witness conflict: the witness is at size %d; send a consistency proof from there", e.Size)
}

func (e *WitnessConflictError) Is(target error) bool { return target == ErrWitnessConflict }

// WitnessRefusedError says why a witness refused: a fork or a rollback. It
// matches ErrWitnessRefused with errors.Is.
type WitnessRefusedError struct {
	Status int
	Reason string
}

func (e *WitnessRefusedError) Error() string {
	return fmt.Sprintf("witness refused checkpoint (%d): %s", e.Status, e.Reason)
}

func (e *WitnessRefusedError) Is(target error) bool { return target == ErrWitnessRefused }

// WitnessClient talks to a witness's submission prefix.
type WitnessClient struct {
	URL  string       // submission prefix, e.g. "https://witness.example/w1"
	HTTP *http.Client // nil means http.DefaultClient
}

// maxWitnessResponse bounds a response body.
const maxWitnessResponse = 64 << 10

// AddCheckpoint submits signedCheckpoint with a consistency proof from
// oldSize and returns the witness's cosignature lines ("— name sig\n"...),
// ready to append to the signed checkpoint (see AddCosignatures). It does
// not verify the cosignature: open the result with the witness key.
func (c *WitnessClient) AddCheckpoint(ctx context.Context, oldSize int64, proof tlog.TreeProof, signedCheckpoint []byte) ([]byte, error) {
	size, err := unverifiedSize(signedCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("add checkpoint: %w", err)
	}
	if oldSize > size {
		return nil, &WitnessRefusedError{Reason: fmt.Sprintf("rollback: the checkpoint's size %d is below the witness's %d", size, oldSize)}
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", oldSize)
	for _, h := range proof {
		body.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	body.WriteString("\n")
	body.Write(signedCheckpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, fmt.Errorf("add checkpoint: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("add checkpoint: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessResponse))
	if err != nil {
		return nil, fmt.Errorf("add checkpoint: response: %w", err)
	}
	return witnessAnswer(resp, out, oldSize, size)
}

// witnessAnswer maps a witness response to cosignature lines or an error.
func witnessAnswer(resp *http.Response, out []byte, oldSize, size int64) ([]byte, error) {
	reason := strings.TrimSpace(string(out))
	switch resp.StatusCode {
	case http.StatusOK:
		if err := checkSignatureLines(out); err != nil {
			return nil, fmt.Errorf("add checkpoint: %w", err)
		}
		return out, nil
	case http.StatusConflict:
		if ct := resp.Header.Get("Content-Type"); ct != ContentTypeTlogSize {
			return nil, fmt.Errorf("add checkpoint: 409 with content type %q", ct)
		}
		n, err := parseDecimal(strings.TrimSuffix(string(out), "\n"))
		if err != nil || !strings.HasSuffix(string(out), "\n") {
			return nil, fmt.Errorf("add checkpoint: 409 body %q is not a size", clip(string(out)))
		}
		if n == oldSize && oldSize == size {
			return nil, &WitnessRefusedError{Status: resp.StatusCode, Reason: fmt.Sprintf("fork: the witness cosigned another root at size %d", size)}
		}
		return nil, &WitnessConflictError{Size: n}
	case http.StatusUnprocessableEntity:
		return nil, &WitnessRefusedError{Status: resp.StatusCode, Reason: "fork: the consistency proof does not verify against the witness's checkpoint: " + clip(reason)}
	}
	return nil, fmt.Errorf("add checkpoint: witness answered %s: %s", resp.Status, clip(reason))
}

// checkSignatureLines checks b is one or more "— name base64\n" lines.
func checkSignatureLines(b []byte) error {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return errors.New("cosignature response is not newline-terminated lines")
	}
	for _, l := range strings.Split(string(b[:len(b)-1]), "\n") {
		name, sig, ok := strings.Cut(strings.TrimPrefix(l, "— "), " ")
		if !strings.HasPrefix(l, "— ") || !ok || !validKeyName(name) {
			return fmt.Errorf("cosignature line %q is not a note signature", clip(l))
		}
		if raw, err := base64.StdEncoding.DecodeString(sig); err != nil || len(raw) < 5 {
			return fmt.Errorf("cosignature line %q is not base64", clip(l))
		}
	}
	return nil
}

// unverifiedSize reads the size line of a signed checkpoint without
// checking signatures (the witness checks them).
func unverifiedSize(signed []byte) (int64, error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return 0, errors.New("not a signed note")
	}
	c, err := ParseCheckpoint(signed[:i+1])
	if err != nil {
		return 0, err
	}
	return c.Size, nil
}

// AddCosignatures returns signed with the cosignature lines appended: a
// signed note carrying the log signature and the witness cosignatures.
func AddCosignatures(signed, cosignatures []byte) []byte {
	out := make([]byte, 0, len(signed)+len(cosignatures))
	return append(append(out, signed...), cosignatures...)
}
