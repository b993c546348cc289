package web

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/httprate"
)

// Limits bounds the routes anyone can call that do costly work before any
// signature has been checked: challenges, sessions and key lookups (a
// store write or a signature check each), and bundle pushes (reading and
// hashing up to policy.MaxSize bytes). Each source address (IPv6: its /64)
// gets its own budget, so a flood from one address leaves the others
// theirs. The address is the TCP peer's: behind a reverse proxy every
// client shares the proxy's budget, so raise the limits there or limit at
// the proxy. The request flow itself (prepare, create, approve) is not
// limited: each of its calls is checked against a signature it carries.
type Limits struct {
	// PerAddress is how many challenges, sessions and key lookups one
	// address may ask for per minute, each route counted apart; 0 means
	// DefaultPerAddress, negative no limit.
	PerAddress int
	// Pushes is how many bundle pushes one address may make per minute;
	// 0 means DefaultPushes, negative no limit.
	Pushes int
	// ConcurrentPushes is how many pushed bundles are read and checked at
	// once, from every address together; more are refused until one is
	// done. 0 means DefaultConcurrentPushes.
	ConcurrentPushes int
}

// The default Limits: generous for people and scripts (a CLI command opens
// one session), small for the pushes only admins make.
const (
	DefaultPerAddress       = 120
	DefaultPushes           = 12
	DefaultConcurrentPushes = 2
)

var (
	errRateLimited = errors.New("rate limited")
	errBusy        = errors.New("busy")
)

func (l Limits) withDefaults() Limits {
	if l.PerAddress == 0 {
		l.PerAddress = DefaultPerAddress
	}
	if l.Pushes == 0 {
		l.Pushes = DefaultPushes
	}
	if l.ConcurrentPushes <= 0 {
		l.ConcurrentPushes = DefaultConcurrentPushes
	}
	return l
}

// sourceAddress is the rate limit key: the TCP peer's address, an IPv6
// one cut to its /64.
func sourceAddress(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return httprate.CanonicalizeIP(host), nil
}

// limit returns a middleware allowing n requests a minute per source
// address to one route (negative n: no limit), answering the rest 429
// with Retry-After.
func (s *Server) limit(n int, what string) func(http.Handler) http.Handler {
	if n < 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return httprate.LimitBy(n, time.Minute, sourceAddress,
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			addr, _ := sourceAddress(r)
			writeError(w, r, s.log, fmt.Errorf("%w: more than %d %s a minute from %s; wait a minute and try again (the Retry-After header says when)",
				errRateLimited, n, what, addr))
		}))
}

// pushSlot takes one of the concurrent push slots, or answers 503 and
// returns false when all are taken; release gives it back.
func (s *Server) pushSlot(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	select {
	case s.pushes <- struct{}{}:
		return func() { <-s.pushes }, true
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, r, s.log, fmt.Errorf("%w: %d bundle pushes are being checked already; try again in a second", errBusy, cap(s.pushes)))
		return nil, false
	}
}
