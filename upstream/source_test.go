package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsmall/breakglass/upstream"
)

// checkErr fails t unless err is non-nil and its message holds every want.
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHTTPSourceFetch(t *testing.T) {
	big := bytes.Repeat([]byte("x"), upstream.MaxBundleFile+1)
	tests := map[string]struct {
		h       http.HandlerFunc
		want    string   // body on success
		wantErr []string // else these in the error
		is      error
	}{
		"200":               {h: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("bundle")) }, want: "bundle"},
		"exactly the limit": {h: func(w http.ResponseWriter, r *http.Request) { w.Write(big[1:]) }, want: string(big[1:])},
		"404":               {h: http.NotFound, wantErr: []string{"404 Not Found", "404 page not found"}},
		"500": {h: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "database on fire", 500) },
			wantErr: []string{"500 Internal Server Error", "database on fire"}},
		"204": {h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, wantErr: []string{"204 No Content"}},
		"redirect": {h: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "http://elsewhere.invalid/b", 302) },
			wantErr: []string{"302 Found", "elsewhere.invalid", "not followed"}},
		"oversized with length": {h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		}, wantErr: []string{"Content-Length"}, is: upstream.ErrTooLarge},
		"oversized chunked": {h: func(w http.ResponseWriter, r *http.Request) {
			w.Write(big[:1])
			w.(http.Flusher).Flush() // no Content-Length from here on
			w.Write(big[1:])
		}, wantErr: []string{"more than the"}, is: upstream.ErrTooLarge},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			url := serve(t, tt.h) + "/bundle"
			src := &upstream.HTTPSource{URL: url}
			got, err := src.Fetch(t.Context())
			if tt.wantErr == nil {
				if err != nil || string(got) != tt.want {
					t.Fatalf("Fetch = %.20q (%d bytes), %v; want %.20q", got, len(got), err, tt.want)
				}
				return
			}
			checkErr(t, err, append(tt.wantErr, url)...)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}

func TestHTTPSourceName(t *testing.T) {
	src, err := upstream.NewSource("https://policy.example/bundle")
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Name(); got != "https://policy.example/bundle" {
		t.Errorf("Name() = %q, want the URL", got)
	}
}

// TestHTTPSourceNoAnswer: an upstream that is slow, that accepts and never
// answers, or that is not there fails within the caller's deadline with an
// error naming the URL.
func TestHTTPSourceNoAnswer(t *testing.T) {
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn // accepted, never read nor answered
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	tests := map[string]struct {
		url  string
		want string
		is   error
	}{
		"slow":        {url: slow + "/bundle", is: context.DeadlineExceeded},
		"never says":  {url: "http://" + silent.Addr().String() + "/bundle", is: context.DeadlineExceeded},
		"closed port": {url: "http://" + closed.Addr().String() + "/bundle", want: "connection refused"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			_, err := (&upstream.HTTPSource{URL: tt.url}).Fetch(ctx)
			checkErr(t, err, tt.url, tt.want)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}

// TestDefaultClientIgnoresProxyEnv: the broker reaches only what it is
// configured with, never a proxy named by the environment.
func TestDefaultClientIgnoresProxyEnv(t *testing.T) {
	var proxied atomic.Int32
	proxy := serve(t, func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.Write([]byte("from the proxy"))
	})
	t.Setenv("HTTP_PROXY", proxy)
	t.Setenv("http_proxy", proxy)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	// Control: a transport that honours the environment goes through the
	// proxy (net/http reads the environment once per process, so an
	// earlier use may have cached another setting).
	ctl := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	if resp, err := ctl.Get("http://upstream.invalid/bundle"); err == nil {
		resp.Body.Close()
	}
	if proxied.Load() != 1 {
		t.Skip("the proxy environment was read before this test set it")
	}
	_, err := (&upstream.HTTPSource{URL: "http://upstream.invalid/bundle"}).Fetch(t.Context())
	checkErr(t, err, "upstream.invalid")
	if n := proxied.Load(); n != 1 {
		t.Errorf("the proxy got %d requests, want only the control's", n)
	}
}

func TestPathSource(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "bundle")
	if err := os.WriteFile(present, []byte("bundle bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, upstream.MaxBundleFile+1); err != nil {
		t.Fatal(err)
	}

	src := &upstream.PathSource{Path: present}
	if got, err := src.Fetch(t.Context()); err != nil || string(got) != "bundle bytes" {
		t.Errorf("Fetch = %q, %v; want the file's bytes", got, err)
	}
	if got, want := src.Name(), "file:"+present; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}

	missing := filepath.Join(dir, "missing")
	_, err := (&upstream.PathSource{Path: missing}).Fetch(t.Context())
	checkErr(t, err, missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}

	_, err = (&upstream.PathSource{Path: big}).Fetch(t.Context())
	checkErr(t, err, big)
	if !errors.Is(err, upstream.ErrTooLarge) {
		t.Errorf("error %v does not wrap ErrTooLarge", err)
	}
}

func TestNewSource(t *testing.T) {
	tests := map[string]struct {
		spec    string
		want    upstream.Source
		wantErr string
	}{
		"http":            {spec: "http://policy.example/b", want: &upstream.HTTPSource{URL: "http://policy.example/b"}},
		"https":           {spec: "https://policy.example:8443/b", want: &upstream.HTTPSource{URL: "https://policy.example:8443/b"}},
		"upper case":      {spec: "HTTPS://policy.example/b", want: &upstream.HTTPSource{URL: "HTTPS://policy.example/b"}},
		"absolute":        {spec: "/etc/breakglass/bundle", want: &upstream.PathSource{Path: "/etc/breakglass/bundle"}},
		"relative":        {spec: "bundles/current", want: &upstream.PathSource{Path: "bundles/current"}},
		"dot colon":       {spec: "./a:b", want: &upstream.PathSource{Path: "./a:b"}},
		"empty":           {spec: "", wantErr: "empty policy source"},
		"blank":           {spec: "  ", wantErr: "empty policy source"},
		"ftp":             {spec: "ftp://policy.example/b", wantErr: `unsupported scheme "ftp"`},
		"file scheme":     {spec: "file:/etc/b", wantErr: `unsupported scheme "file"`},
		"no host":         {spec: "http:///b", wantErr: "no host"},
		"credentials":     {spec: "https://u:pw@policy.example/b", wantErr: "credentials"},
		"bad url":         {spec: "http://policy.example/%zz", wantErr: "not a URL"},
		"colon first elt": {spec: "a:b", wantErr: `unsupported scheme "a"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := upstream.NewSource(tt.spec)
			if tt.wantErr != "" {
				checkErr(t, err, tt.wantErr)
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name() != tt.want.Name() {
				t.Errorf("NewSource(%q) = %T %q, want %T %q", tt.spec, got, got.Name(), tt.want, tt.want.Name())
			}
			if _, ok := got.(*upstream.HTTPSource); ok != isHTTP(tt.want) {
				t.Errorf("NewSource(%q) is a %T, want a %T", tt.spec, got, tt.want)
			}
		})
	}
}

func isHTTP(s upstream.Source) bool { _, ok := s.(*upstream.HTTPSource); return ok }
