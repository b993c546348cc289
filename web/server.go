// Package web is breakglass's HTTP face: the JSON API under /v1, health,
// metrics and the JWKS, and the Client the CLI uses. Handlers decode (with a
// size limit), call one broker.Service method, and encode; errors map to
// statuses in one table (errors.go).
package web

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/failsmall/breakglass/broker"
)

// Config wires a Server. Service is required.
type Config struct {
	Service *broker.Service
	Logger  *slog.Logger
	// JWKS returns the JSON Web Key Set to publish; KeyIDs the signing
	// key ids, current first.
	JWKS   func() any
	KeyIDs func() []string
	// Started is when the process started, for /v1/status.
	Started time.Time
	// Audit serves the audit log and the receipts of credentials; nil
	// serves neither.
	Audit AuditLog
	// AuditPublic serves the audit entries' contents (/v1/audit/entries
	// and the entry bundles /tile/entries/...) to anyone; false needs a
	// session for them. Checkpoints, proofs and hashes are always public.
	AuditPublic bool
	// Sources reports the upstream sources' health; nil for none.
	Sources func() []SourceJSON
	// Witnesses reports the audit witnesses' health; nil for none.
	Witnesses func() []WitnessJSON
	// Limits bounds the costly unauthenticated routes (zero: defaults).
	Limits Limits
}

// Server serves the API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	svc     *broker.Service
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	grants  prometheus.Counter
	pushes  chan struct{} // one token per bundle push being read and checked
}

// NewServer builds the router and its metrics registry.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JWKS == nil {
		cfg.JWKS = func() any { return map[string]any{"keys": []any{}} }
	}
	if cfg.KeyIDs == nil {
		cfg.KeyIDs = func() []string { return nil }
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, svc: cfg.Service, reg: prometheus.NewRegistry(),
		pushes: make(chan struct{}, cfg.Limits.ConcurrentPushes)}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breakglass_http_requests_total",
		Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "breakglass_http_request_duration_seconds",
		Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"})
	s.grants = prometheus.NewCounter(prometheus.CounterOpts{Name: "breakglass_grants_issued_total",
		Help: "Grants minted by this process."})
	s.reg.MustRegister(s.reqs, s.latency, s.grants, buildInfo(), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &stateCollector{s: s})
	return s
}

// Handler returns the router with every route registered.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer, s.instrument)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/.well-known/jwks.json", s.jwks)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.tileRoutes(r)
	r.Route("/v1", func(r chi.Router) {
		r.Get("/status", s.status)
		lim := s.cfg.Limits
		r.With(s.limit(lim.PerAddress, "key lookups")).Post("/keys/lookup", s.lookupKeys)
		r.With(s.limit(lim.PerAddress, "challenges")).Post("/challenges", s.newChallenge)
		r.With(s.limit(lim.PerAddress, "sessions")).Post("/sessions", s.openSession)
		r.Post("/requests/prepare", s.prepareRequest)
		r.Post("/requests", s.createRequest)
		r.With(s.session).Get("/requests", s.listRequests)
		r.With(s.session).Get("/requests/{id}", s.getRequest)
		r.Post("/requests/{id}/approvals", s.approve)
		r.Post("/requests/{id}/denials", s.deny)
		r.Post("/requests/{id}/cancel", s.cancel)
		r.Post("/requests/{id}/revoke", s.revoke)
		r.With(s.session).Get("/requests/{id}/credentials", s.credentials)
		s.auditRoutes(r)
		s.sshRoutes(r)
		s.revocationRoutes(r)
		s.policyRoutes(r)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, errNoRoute)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, errNoMethod)
	})
	return r
}

// instrument counts requests by route pattern (never by raw path, which holds ids).
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		s.reqs.WithLabelValues(route, strconv.Itoa(ww.Status())).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type principalKey struct{}

// session requires a bearer token from /v1/sessions and puts its principal
// in the request context.
func (s *Server) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := cutBearer(r.Header.Get("Authorization"))
		p, err := s.svc.Authenticate(r.Context(), tok)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func principalOf(r *http.Request) string {
	p, _ := r.Context().Value(principalKey{}).(string)
	return p
}

func cutBearer(h string) (string, bool) {
	const prefix = "Bearer "
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):], true
	}
	return "", false
}

// stateCollector exports request counts by state from the store at scrape time.
type stateCollector struct{ s *Server }

var stateDesc = prometheus.NewDesc("breakglass_requests", "Requests by state.", []string{"state"}, nil)
var policyDesc = prometheus.NewDesc("breakglass_policy_loaded", "1 when a valid policy is active.", nil, nil)

var (
	bundleSerialDesc = prometheus.NewDesc("breakglass_policy_bundle_serial", "Serial of the active policy bundle.", nil, nil)
	bundleAgeDesc    = prometheus.NewDesc("breakglass_policy_bundle_age_seconds",
		"Seconds since the active policy bundle was last known current (created, or last served by an upstream).", nil, nil)
	deactivatedDesc   = prometheus.NewDesc("breakglass_directory_deactivated", "People a live directory deactivated.", nil, nil)
	sourceSuccessDesc = prometheus.NewDesc("breakglass_source_last_success_timestamp_seconds",
		"Unix time of the source's last successful fetch (0 when never).", []string{"source", "kind"}, nil)
	sourceAgeDesc = prometheus.NewDesc("breakglass_source_age_seconds",
		"Seconds since the source's last successful fetch (-1 when never).", []string{"source", "kind"}, nil)
	sourceUpDesc  = prometheus.NewDesc("breakglass_source_up", "1 when the source's last fetch succeeded.", []string{"source", "kind"}, nil)
	witnessUpDesc = prometheus.NewDesc("breakglass_witness_up",
		"1 when the witness's last cosignature request succeeded, 0 when it failed (unreachable, refusing) or none succeeded yet.", []string{"witness"}, nil)
	witnessSizeDesc = prometheus.NewDesc("breakglass_witness_cosigned_size",
		"Size of the newest audit checkpoint the witness cosigned (0 when none, in this process).", []string{"witness"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{stateDesc, policyDesc, bundleSerialDesc, bundleAgeDesc, deactivatedDesc,
		sourceSuccessDesc, sourceAgeDesc, sourceUpDesc, witnessUpDesc, witnessSizeDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.s.svc.Status(context.Background())
	if err != nil {
		c.s.log.Warn("metrics: status", "err", err)
		return
	}
	for _, state := range broker.States {
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, float64(st.Counts[state]), string(state))
	}
	loaded := 0.0
	if st.Policy != "" {
		loaded = 1
	}
	ch <- prometheus.MustNewConstMetric(policyDesc, prometheus.GaugeValue, loaded)
	if b := c.s.svc.BundleState(); b != nil {
		ch <- prometheus.MustNewConstMetric(bundleSerialDesc, prometheus.GaugeValue, float64(b.Serial))
		ch <- prometheus.MustNewConstMetric(bundleAgeDesc, prometheus.GaugeValue, b.AgeSeconds)
		ch <- prometheus.MustNewConstMetric(deactivatedDesc, prometheus.GaugeValue, float64(len(b.Deactivated)))
	}
	for _, src := range c.s.sources() {
		last, up := 0.0, 0.0
		if !src.LastSuccess.IsZero() {
			last = float64(src.LastSuccess.UnixNano()) / 1e9
		}
		if !src.LastSuccess.IsZero() && !src.LastSuccess.Before(src.LastErrorAt) {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(sourceSuccessDesc, prometheus.GaugeValue, last, src.Name, src.Kind)
		ch <- prometheus.MustNewConstMetric(sourceAgeDesc, prometheus.GaugeValue, src.AgeSeconds, src.Name, src.Kind)
		ch <- prometheus.MustNewConstMetric(sourceUpDesc, prometheus.GaugeValue, up, src.Name, src.Kind)
	}
	for _, w := range c.s.witnesses() {
		up := 0.0
		if w.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(witnessUpDesc, prometheus.GaugeValue, up, w.Name)
		ch <- prometheus.MustNewConstMetric(witnessSizeDesc, prometheus.GaugeValue, float64(w.Cosigned), w.Name)
	}
}

// buildInfo is breakglass_build_info: 1, labelled with the module version,
// the VCS revision and whether the tree was modified, and the Go version,
// as the binary records them (runtime/debug.ReadBuildInfo).
func buildInfo() prometheus.Collector {
	version, revision, modified, goVersion := "unknown", "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "breakglass_build_info",
		Help:        "The running binary: 1, labelled with its module version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "modified": modified, "goversion": goVersion}})
	g.Set(1)
	return g
}
