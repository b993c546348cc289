package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/failsmall/breakglass/policy"
)

// MaxBundleFile is the largest signed bundle file a Source returns: a
// policy of policy.MaxSize plus room for the header and signatures.
const MaxBundleFile = policy.MaxSize + 1<<20

// ErrTooLarge: an upstream answered more bytes than the limit for what was
// fetched (MaxBundleFile for a bundle, MaxSCIMResponse for a SCIM page).
var ErrTooLarge = errors.New("upstream response too large")

// Source yields the latest signed policy bundle an upstream offers.
type Source interface {
	// Name identifies the source in status, logs and metrics; it MUST be
	// stable and MUST NOT hold secrets: the URL, or "file:" + path.
	Name() string
	// Fetch returns the bundle file's bytes, at most MaxBundleFile of
	// them. It MUST honour ctx's deadline and cancellation. The bytes are
	// unverified: the caller checks signatures. Errors name the source.
	Fetch(ctx context.Context) ([]byte, error)
}

var (
	_ Source = (*HTTPSource)(nil)
	_ Source = (*PathSource)(nil)
)

// HTTPSource fetches a bundle with GET. Only status 200 is a success and
// redirects are not followed (an error names the Location); a body over
// MaxBundleFile fails with ErrTooLarge. Do not copy an HTTPSource after
// its first Fetch.
type HTTPSource struct {
	URL string
	// Client is the HTTP client; nil means DefaultClient's settings, made
	// once per HTTPSource.
	Client *http.Client

	once   sync.Once
	client *http.Client
}

// Name returns the URL.
func (s *HTTPSource) Name() string { return s.URL }

// Kind returns "http".
func (s *HTTPSource) Kind() string { return "http" }

// Fetch GETs the URL.
func (s *HTTPSource) Fetch(ctx context.Context) ([]byte, error) {
	s.once.Do(func() {
		s.client = s.Client
		if s.client == nil {
			s.client = DefaultClient()
		}
	})
	return httpGet(ctx, s.client, s.URL, nil, MaxBundleFile)
}

// DefaultClient returns a new client for upstreams: it connects only to
// the address it is given (no proxy from the environment, no redirects)
// and gives up on a connection after 5s, on response headers after 10s
// and on a whole request after 30s, whatever the caller's context says.
func DefaultClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // never HTTP_PROXY and friends: see the doc comment
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpGet GETs url with header and returns the body of a 200 answer, at
// most limit bytes. Errors start with the URL and say the status or the
// network error.
func httpGet(ctx context.Context, c *http.Client, url string, header http.Header, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error already says "Get \"url\": ...".
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(url, resp)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("GET %s: %w: Content-Length %d, more than the %d allowed", url, ErrTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("GET %s: reading the body: %w", url, err)
	case int64(len(body)) > limit:
		return nil, fmt.Errorf("GET %s: %w: more than the %d bytes allowed", url, ErrTooLarge, limit)
	}
	return body, nil
}

// statusError describes a non-200 answer with the start of its body, which
// often says why.
func statusError(url string, resp *http.Response) error {
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
		return fmt.Errorf("GET %s: status %s, redirect to %.200q not followed: configure the final URL", url, resp.Status, loc)
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if s := strings.TrimSpace(string(excerpt)); s != "" {
		return fmt.Errorf("GET %s: status %s: %q", url, resp.Status, s)
	}
	return fmt.Errorf("GET %s: status %s", url, resp.Status)
}

// PathSource reads a bundle file, typically one an operator or a
// configuration management tool drops in place.
type PathSource struct{ Path string }

// Name returns "file:" + Path.
func (s *PathSource) Name() string { return "file:" + s.Path }

// Kind returns "path".
func (s *PathSource) Kind() string { return "path" }

// Fetch reads the file. A missing file is an error naming the path
// (wrapping fs.ErrNotExist); a file over MaxBundleFile fails with
// ErrTooLarge.
func (s *PathSource) Fetch(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Path, err)
	}
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, err // *fs.PathError: "open <path>: no such file or directory"
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBundleFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", s.Path, err)
	case len(data) > MaxBundleFile:
		return nil, fmt.Errorf("read %s: %w: more than the %d bytes allowed", s.Path, ErrTooLarge, MaxBundleFile)
	}
	return data, nil
}

// NewSource parses a source specification: an http:// or https:// URL
// gives an HTTPSource with the default client, anything else without a
// scheme a PathSource (absolute, or relative to the working directory;
// write ./a:b for a relative path whose first element holds a colon).
// An empty spec, another scheme, a URL without a host or with credentials
// (they would show in status and logs) are errors.
func NewSource(spec string) (Source, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("empty policy source: want an http(s) URL or a file path")
	}
	scheme, _, ok := strings.Cut(spec, ":")
	if !ok || !isScheme(scheme) {
		return &PathSource{Path: spec}, nil
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		return newHTTPSource(spec)
	}
	return nil, fmt.Errorf("policy source %q: unsupported scheme %q: want http://, https:// or a file path (./%s for a relative file)", spec, scheme, spec)
}

func newHTTPSource(spec string) (*HTTPSource, error) {
	u, err := parseUpstreamURL(spec)
	if err != nil {
		return nil, fmt.Errorf("policy source: %w", err)
	}
	return &HTTPSource{URL: u}, nil
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.' (RFC 3986 section 3.1).
func isScheme(s string) bool {
	for i, r := range s {
		letter := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		other := '0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'
		if !letter && (i == 0 || !other) {
			return false
		}
	}
	return s != ""
}

// parseUpstreamURL checks that raw is an absolute http or https URL with a
// host and without credentials, and returns it unchanged.
func parseUpstreamURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q: want an http:// or https:// URL", raw)
	case u.Host == "":
		return "", fmt.Errorf("%q: no host", raw)
	case u.User != nil:
		return "", fmt.Errorf("%s: credentials in the URL would show in status and logs; remove them", u.Redacted())
	}
	return raw, nil
}
