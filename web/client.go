package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls a broker's API. Errors from the broker unwrap to the
// broker's sentinel errors, so callers can use errors.Is.
type Client struct {
	base *url.URL
	http *http.Client
	// Token is the session token Login obtained, sent with reads.
	Token string
}

// SignFunc signs text (a statement or a challenge) and returns an armored SSHSIG.
type SignFunc func(text []byte) ([]byte, error)

// NewClient returns a client for the broker at base (http or https URL).
func NewClient(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("broker URL %q is not an http(s) URL like http://127.0.0.1:8080", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, http: hc}, nil
}

// URL is the broker's base URL.
func (c *Client) URL() string { return c.base.String() }

// do sends a JSON request and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	contentType := "application/json"
	if raw, ok := in.(rawBody); ok {
		body, contentType = bytes.NewReader(raw.data), raw.contentType
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the broker at %s (set --broker or BREAKGLASS_URL): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer from %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		var e ErrorJSON
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return fmt.Errorf("broker answered %s to %s %s: %.200s", resp.Status, method, path, data)
		}
		return &codeError{err: errorForCode(e.Error.Code), status: resp.StatusCode, code: e.Error.Code, message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Status returns /v1/status.
func (c *Client) Status(ctx context.Context) (*StatusJSON, error) {
	var out StatusJSON
	return &out, c.do(ctx, http.MethodGet, "/v1/status", nil, &out)
}

// JWKS returns the broker's JSON Web Key Set document as served.
func (c *Client) JWKS(ctx context.Context) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, http.MethodGet, "/.well-known/jwks.json", nil, &out)
}

// LookupKeys says which principal each authorized_keys line is enrolled for.
func (c *Client) LookupKeys(ctx context.Context, keys []string) ([]KeyJSON, error) {
	var out KeyLookupJSON
	if err := c.do(ctx, http.MethodPost, "/v1/keys/lookup", map[string]any{"keys": keys}, &out); err != nil {
		return nil, err
	}
	if len(out.Keys) != len(keys) {
		return nil, fmt.Errorf("the broker answered %d key lookups for %d keys", len(out.Keys), len(keys))
	}
	return out.Keys, nil
}

// Prepare returns the request statement to sign.
func (c *Client) Prepare(ctx context.Context, in PrepareJSON) ([]byte, error) {
	var out struct{ Statement string }
	err := c.do(ctx, http.MethodPost, "/v1/requests/prepare", in, &out)
	return []byte(out.Statement), err
}

// Create submits a signed request statement.
func (c *Client) Create(ctx context.Context, statement, sig []byte) (*RequestJSON, error) {
	var out RequestJSON
	return &out, c.do(ctx, http.MethodPost, "/v1/requests", SignedJSON{string(statement), string(sig)}, &out)
}

// Login opens a read session as principal by signing a challenge.
func (c *Client) Login(ctx context.Context, principal string, sign SignFunc) error {
	text, err := c.challenge(ctx, principal, "session", "")
	if err != nil {
		return err
	}
	sig, err := sign(text)
	if err != nil {
		return err
	}
	var out SessionJSON
	if err := c.do(ctx, http.MethodPost, "/v1/sessions", SignedJSON{string(text), string(sig)}, &out); err != nil {
		return err
	}
	c.Token = out.Token
	return nil
}

func (c *Client) challenge(ctx context.Context, principal, action, subject string) ([]byte, error) {
	var out struct{ Challenge string }
	err := c.do(ctx, http.MethodPost, "/v1/challenges", ChallengeJSON{principal, action, subject}, &out)
	return []byte(out.Challenge), err
}

// List lists requests, optionally in one state or by one requester.
func (c *Client) List(ctx context.Context, state, requester string) ([]RequestJSON, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if requester != "" {
		q.Set("requester", requester)
	}
	var out struct{ Requests []RequestJSON }
	err := c.do(ctx, http.MethodGet, "/v1/requests?"+q.Encode(), nil, &out)
	return out.Requests, err
}

// Get returns one request with its approvals and grant.
func (c *Client) Get(ctx context.Context, id string) (*RequestJSON, error) {
	var out RequestJSON
	return &out, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id), nil, &out)
}

// Approve submits a signature over request id's approval statement.
func (c *Client) Approve(ctx context.Context, id string, sig []byte) (*ApproveResultJSON, error) {
	var out ApproveResultJSON
	return &out, c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/approvals",
		map[string]string{"signature": string(sig)}, &out)
}

// Deny submits a signed denial statement.
func (c *Client) Deny(ctx context.Context, id string, statement, sig []byte) (*RequestJSON, error) {
	var out RequestJSON
	return &out, c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/denials",
		SignedJSON{string(statement), string(sig)}, &out)
}

// Cancel cancels request id as principal.
func (c *Client) Cancel(ctx context.Context, id, principal string, sign SignFunc) (*RequestJSON, error) {
	var out RequestJSON
	return &out, c.signedAction(ctx, id, principal, "cancel", sign, &out)
}

// Revoke revokes request id's grant as principal.
func (c *Client) Revoke(ctx context.Context, id, principal string, sign SignFunc) (*GrantJSON, error) {
	var out GrantJSON
	return &out, c.signedAction(ctx, id, principal, "revoke", sign, &out)
}

func (c *Client) signedAction(ctx context.Context, id, principal, action string, sign SignFunc, out any) error {
	text, err := c.challenge(ctx, principal, action, id)
	if err != nil {
		return err
	}
	sig, err := sign(text)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/"+action, SignedJSON{string(text), string(sig)}, out)
}

// Credentials fetches the grant and its token; only the requester may.
func (c *Client) Credentials(ctx context.Context, id string) (*GrantJSON, error) {
	var out GrantJSON
	return &out, c.do(ctx, http.MethodGet, "/v1/requests/"+url.PathEscape(id)+"/credentials", nil, &out)
}
