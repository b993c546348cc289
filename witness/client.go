package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/failsmall/breakglass/audit"
)

// Client talks to a witness's submission prefix over HTTP: it is the
// audit.WitnessClient a broker's Checkpointer pushes checkpoints with.
// Use it through a pointer; the zero value with URL set is ready.
type Client struct {
	URL string // submission prefix, e.g. "https://witness.example/w1"
	// HTTP sends the requests; nil means a client with a 10s timeout that
	// takes no proxy from the environment (the broker connects to the
	// witnesses it is configured with and to nothing else).
	HTTP *http.Client

	once sync.Once
	def  *http.Client
}

var _ audit.WitnessClient = (*Client)(nil)

// maxResponse bounds a response body.
const maxResponse = 64 << 10

// AddCheckpoint submits signedCheckpoint with a consistency proof from
// oldSize and returns the witness's cosignature lines ("— name sig\n"...),
// ready to append to the signed checkpoint (see audit.AddCosignatures). It
// does not verify the cosignature: open the result with the witness key.
// A witness at another size gives an *audit.WitnessConflictError; a fork or
// a rollback gives an *audit.WitnessRefusedError.
func (c *Client) AddCheckpoint(ctx context.Context, oldSize int64, proof tlog.TreeProof, signedCheckpoint []byte) ([]byte, error) {
	size, err := unverifiedSize(signedCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("add checkpoint: %w", err)
	}
	if oldSize > size {
		return nil, &audit.WitnessRefusedError{Reason: fmt.Sprintf("rollback: the checkpoint's size %d is below the witness's %d", size, oldSize)}
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
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("add checkpoint: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("add checkpoint: response: %w", err)
	}
	return answer(resp, out, oldSize, size)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.once.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		c.def = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	})
	return c.def
}

// answer maps a witness response to cosignature lines or an error.
func answer(resp *http.Response, out []byte, oldSize, size int64) ([]byte, error) {
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
			return nil, &audit.WitnessRefusedError{Status: resp.StatusCode, Reason: fmt.Sprintf("fork: the witness cosigned another root at size %d", size)}
		}
		return nil, &audit.WitnessConflictError{Size: n}
	case http.StatusUnprocessableEntity:
		return nil, &audit.WitnessRefusedError{Status: resp.StatusCode, Reason: "fork: the consistency proof does not verify against the witness's checkpoint: " + clip(reason)}
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
	c, err := audit.ParseCheckpoint(signed[:i+1])
	if err != nil {
		return 0, err
	}
	return c.Size, nil
}
