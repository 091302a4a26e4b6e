// Package health answers the health checks that decide whether a region takes
// traffic: the ALB's region-health target group (which Global Accelerator
// follows) and Route 53, which reaches it through the ALB.
//
// GET /health says the function runs. GET /health/deep writes one canary
// record to the region's Kinesis stream and, when configured, reads the API-key
// secret that ingest authenticates producers with; it answers 200 or 503 from
// a verdict with hysteresis (see Tracker). It asks the services themselves,
// never CloudWatch: in the 2020 Kinesis outage CloudWatch failed with it.
//
// The secret is read because a region whose ingest cannot read it answers 503
// to every producer on a new execution environment: a region that cannot
// authenticate producers is not healthy, and its traffic should move.
//
// State lives in the execution environment: the checks of several ALB nodes
// and Route 53 checkers land on the few warm instances of the function, and
// each instance judges the same regional stream, so their verdicts agree
// without sharing anything. A cold instance starts healthy and needs
// UnhealthyAfter failures of its own, which keeps a burst of cold starts
// during an outage from flipping the region faster than configured.
package health

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/record"
)

// Defaults of Config.
const (
	DefaultProbeTimeout   = time.Second
	DefaultCacheTTL       = 5 * time.Second
	DefaultWindow         = 60 * time.Second
	DefaultUnhealthyAfter = 3
	DefaultHealthyAfter   = 2
)

// Paths served.
const (
	PathShallow = "/health"
	PathDeep    = "/health/deep"
)

// PutRecordAPI is the part of the Kinesis client the probe uses.
type PutRecordAPI interface {
	PutRecord(ctx context.Context, in *kinesis.PutRecordInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
}

// PutRecordFunc adapts a function to PutRecordAPI (fakes in tests).
type PutRecordFunc func(ctx context.Context, in *kinesis.PutRecordInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)

// PutRecord calls f.
func (f PutRecordFunc) PutRecord(ctx context.Context, in *kinesis.PutRecordInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
	return f(ctx, in, opts...)
}

// GetSecretValueAPI is the part of the Secrets Manager client the probe uses.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// GetSecretValueFunc adapts a function to GetSecretValueAPI (fakes in tests).
type GetSecretValueFunc func(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)

// GetSecretValue calls f.
func (f GetSecretValueFunc) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f(ctx, in, opts...)
}

// Dependencies a probe checks, as the log names them.
const (
	DepKinesis        = "kinesis"
	DepSecretsManager = "secretsmanager"
)

// Config configures a Handler. Zero values of the optional fields give the
// defaults above; negative values are errors.
type Config struct {
	Client     PutRecordAPI
	StreamName string
	// Secrets and SecretID name the API-key secret ingest reads
	// (API_KEYS_SECRET_ARN): each probe also reads it. Both unset: the probe
	// writes to Kinesis only.
	Secrets  GetSecretValueAPI
	SecretID string
	// Region goes into the answers and the canary records (AWS_REGION).
	Region string
	// ProbeTimeout bounds a probe: the PutRecord call and the GetSecretValue
	// call, which run at the same time.
	ProbeTimeout time.Duration
	// CacheTTL is how long a probe result answers later checks without a new
	// probe, so many checkers cannot storm Kinesis.
	CacheTTL time.Duration
	// Window, UnhealthyAfter and HealthyAfter configure the Tracker.
	Window         time.Duration
	UnhealthyAfter int
	HealthyAfter   int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives one line per probe (with its metrics) and the verdict
	// changes. Default slog.Default().
	Logger *slog.Logger
	// MetricsNamespace is the CloudWatch namespace of the probe lines'
	// metrics (METRICS_NAMESPACE; see package metrics). Empty: the lines
	// carry the values but CloudWatch extracts none. An invalid one is
	// logged and treated as empty: metrics never stop the health checks.
	MetricsNamespace string
}

// Handler serves PathShallow and PathDeep. It is safe for concurrent use.
type Handler struct {
	client       PutRecordAPI
	stream       string
	secrets      GetSecretValueAPI // nil: Kinesis only
	secretID     string
	region       string
	probeTimeout time.Duration
	cacheTTL     time.Duration
	now          func() time.Time
	log          *slog.Logger
	ids          *record.IDs
	metrics      *metrics.Emitter

	mu       sync.Mutex
	tracker  *Tracker
	probedAt time.Time // when the last probe finished; valid if probed
	probed   bool
	flight   *flight // the probe running now, nil if none
}

// flight is one running probe; checks that arrive meanwhile wait for it
// instead of starting their own.
type flight struct {
	done    chan struct{}
	waiters int
}

// New checks cfg and returns a Handler whose verdict starts healthy.
func New(cfg Config) (*Handler, error) {
	if cfg.Client == nil {
		return nil, errors.New("health: kinesis client is missing")
	}
	if cfg.StreamName == "" {
		return nil, errors.New("health: stream name is missing")
	}
	if (cfg.Secrets == nil) != (cfg.SecretID == "") {
		return nil, errors.New("health: the secrets manager client and the api keys secret id go together: set both or neither")
	}
	if cfg.ProbeTimeout < 0 || cfg.CacheTTL < 0 || cfg.Window < 0 || cfg.UnhealthyAfter < 0 || cfg.HealthyAfter < 0 {
		return nil, errors.New("health: probe timeout, cache TTL, window and thresholds must not be negative")
	}
	def(&cfg.ProbeTimeout, DefaultProbeTimeout)
	def(&cfg.CacheTTL, DefaultCacheTTL)
	def(&cfg.Window, DefaultWindow)
	def(&cfg.UnhealthyAfter, DefaultUnhealthyAfter)
	def(&cfg.HealthyAfter, DefaultHealthyAfter)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Probes are at least CacheTTL apart, so UnhealthyAfter failures span at
	// least (UnhealthyAfter-1)*CacheTTL; a shorter window could never see them.
	if span := time.Duration(cfg.UnhealthyAfter-1) * cfg.CacheTTL; cfg.Window <= span {
		return nil, fmt.Errorf("health: probe window %s cannot hold %d failed probes %s apart (cache TTL); want a window over %s",
			cfg.Window, cfg.UnhealthyAfter, cfg.CacheTTL, span)
	}
	tr, err := NewTracker(cfg.UnhealthyAfter, cfg.HealthyAfter, cfg.Window, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	m, err := metrics.New(cfg.MetricsNamespace)
	if err != nil {
		cfg.Logger.Warn("health: metrics are off", "err", err)
	}
	return &Handler{
		client:       cfg.Client,
		stream:       cfg.StreamName,
		secrets:      cfg.Secrets,
		secretID:     cfg.SecretID,
		region:       cfg.Region,
		probeTimeout: cfg.ProbeTimeout,
		cacheTTL:     cfg.CacheTTL,
		now:          cfg.Now,
		log:          cfg.Logger,
		ids:          record.NewIDs(),
		tracker:      tr,
		metrics:      m,
	}, nil
}

func def[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Status is the verdict and what it is based on, for Go callers (tests, the
// drill) and the log. It is never sent over HTTP: the deep answer carries only
// the verdict and the region (see ServeHTTP), because error text names the
// account, role and resources, and the times and counters would tell an
// outsider when a failover is near.
type Status struct {
	Region  string
	Healthy bool
	// Verdict is "healthy" or "unhealthy".
	Verdict string
	// Since is when the verdict last changed in this execution environment.
	Since time.Time
	// LastProbe is when the last probe finished (nil if none has yet).
	LastProbe   *time.Time
	LastProbeOK bool
	// LastError and LastErrorAt describe the last failed probe ("" and nil if none).
	LastError        string
	LastErrorAt      *time.Time
	ConsecutiveOK    int
	FailuresInWindow int
	// Cached is true when this check ran no probe of its own: it reused a
	// result younger than the cache TTL or waited for a concurrent probe.
	Cached bool
}

// Verdicts.
const (
	VerdictHealthy   = "healthy"
	VerdictUnhealthy = "unhealthy"
)

// ServeHTTP answers GET and HEAD on PathShallow and PathDeep. Anyone who
// reaches the ALB or the accelerator can call them, so the answers carry no
// detail: PathDeep answers 200 or 503 with deepBody; the details go to the log
// (see Check).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathShallow, PathDeep:
	default:
		writeJSON(w, r, http.StatusNotFound, errorBody{"not found"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, r, http.StatusMethodNotAllowed, errorBody{"method not allowed"})
		return
	}
	if r.URL.Path == PathShallow {
		writeJSON(w, r, http.StatusOK, shallowBody{Status: "ok", Region: h.region})
		return
	}
	st := h.Check(r.Context())
	code := http.StatusOK
	if !st.Healthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, r, code, deepBody{Verdict: st.Verdict, Region: st.Region})
}

// deepBody is the public answer of PathDeep.
type deepBody struct {
	Verdict string `json:"verdict"`
	Region  string `json:"region"`
}

type shallowBody struct {
	Status string `json:"status"`
	Region string `json:"region"`
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	// Checkers must see the current verdict, never a proxy's copy.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b) // the client went away; nothing to do
	}
}

// Check returns the verdict, probing (Kinesis, and the secret if configured)
// unless a result younger than the cache TTL exists or a probe is already
// running (then it waits for that one). Only a check that runs a probe feeds
// the Tracker. Every probe writes one line with its metrics: "region health
// probe", or "region health probe failed" with the full error; every verdict
// change is logged too.
func (h *Handler) Check(ctx context.Context) Status {
	h.mu.Lock()
	if h.probed && h.now().Sub(h.probedAt) < h.cacheTTL {
		st := h.status(true)
		h.mu.Unlock()
		return st
	}
	if f := h.flight; f != nil {
		f.waiters++
		h.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
		}
		h.mu.Lock()
		st := h.status(true)
		h.mu.Unlock()
		return st
	}
	f := &flight{done: make(chan struct{})}
	h.flight = f
	h.mu.Unlock()

	times, err := h.probe(ctx)

	h.mu.Lock()
	now := h.now()
	changed := h.tracker.Record(now, err)
	h.probed, h.probedAt = true, now
	h.flight = nil
	close(f.done)
	st := h.status(false)
	h.mu.Unlock()

	attrs := []slog.Attr{slog.String("region", h.region), slog.String("verdict", st.Verdict)}
	level, msg := slog.LevelInfo, msgProbe
	if err != nil {
		level, msg = slog.LevelWarn, msgProbeFailed
		attrs = append(attrs, slog.Any("failed", failedDeps(err)), slog.String("stream", h.stream))
		if h.secrets != nil {
			attrs = append(attrs, slog.String("secret", h.secretID))
		}
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	h.log.LogAttrs(ctx, level, msg, append(attrs, h.probeMetrics(st, times, err)...)...)
	if changed {
		h.log.WarnContext(ctx, msgVerdictChanged, "region", h.region, "verdict", st.Verdict,
			"lastError", st.LastError, "failuresInWindow", st.FailuresInWindow, "consecutiveOK", st.ConsecutiveOK)
	}
	return st
}

// Log messages of Check.
const (
	msgProbe          = "region health probe"
	msgProbeFailed    = "region health probe failed"
	msgVerdictChanged = "region health verdict changed"
)

// probeTimes are how long each call of a probe took (PROBE_TIMEOUT for one
// that did not answer in time).
type probeTimes struct {
	kinesis, secret time.Duration
}

// probeMetrics are the metrics of a probe's line (see package metrics).
func (h *Handler) probeMetrics(st Status, times probeTimes, err error) []slog.Attr {
	failed := failedDeps(err)
	l := h.metrics.Line()
	healthy := 0
	if st.Healthy {
		healthy = 1
	}
	l.Count(metrics.RegionHealthy, healthy)
	l.Duration(metrics.KinesisProbeLatency, times.kinesis)
	l.Count(metrics.KinesisProbeFailures, count(failed, DepKinesis))
	if h.secrets != nil {
		l.Duration(metrics.SecretsProbeLatency, times.secret)
		l.Count(metrics.SecretsProbeFailures, count(failed, DepSecretsManager))
	}
	return l.Attrs(h.now())
}

// count is 1 when deps holds dep, else 0.
func count(deps []string, dep string) int {
	for _, d := range deps {
		if d == dep {
			return 1
		}
	}
	return 0
}

// status builds the answer; h.mu must be held.
func (h *Handler) status(cached bool) Status {
	s := h.tracker.State(h.now())
	st := Status{
		Region:           h.region,
		Healthy:          s.Healthy,
		Verdict:          VerdictHealthy,
		Since:            s.Since.UTC(),
		LastProbeOK:      s.LastProbeOK,
		LastError:        s.LastError,
		ConsecutiveOK:    s.ConsecutiveOK,
		FailuresInWindow: s.FailuresInWindow,
		Cached:           cached,
	}
	if !s.Healthy {
		st.Verdict = VerdictUnhealthy
	}
	if !s.LastProbe.IsZero() {
		t := s.LastProbe.UTC()
		st.LastProbe = &t
	}
	if !s.LastErrorAt.IsZero() {
		t := s.LastErrorAt.UTC()
		st.LastErrorAt = &t
	}
	return st
}

// canaryData is the canary's payload; the processor drops canaries unread.
var canaryData = json.RawMessage(`{"probe":"health"}`)

// depError is the failure of one dependency within a probe.
type depError struct {
	dep string // DepKinesis or DepSecretsManager
	err error
}

// probeError is a failed probe: the dependencies that failed, in a fixed
// order, each with its whole error.
type probeError []depError

func (e probeError) Error() string {
	parts := make([]string, len(e))
	for i, d := range e {
		parts[i] = d.dep + ": " + d.err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e probeError) Unwrap() []error {
	errs := make([]error, len(e))
	for i, d := range e {
		errs[i] = d.err
	}
	return errs
}

// failedDeps names the dependencies a probe error says failed.
func failedDeps(err error) []string {
	var pe probeError
	if !errors.As(err, &pe) {
		return nil
	}
	deps := make([]string, len(pe))
	for i, d := range pe {
		deps[i] = d.dep
	}
	return deps
}

// probe writes one canary record and, if configured, reads the API-key
// secret, both at once within ProbeTimeout. One attempt each (the clients are
// built with RetryMaxAttempts = 1): flakiness is the Tracker's business, and
// retries would stretch a probe past the checkers' timeouts. A failure of
// either is a failed probe. It says how long each call took.
func (h *Handler) probe(ctx context.Context) (probeTimes, error) {
	// The result is shared with other checkers and feeds the verdict, so a
	// checker that hangs up must not cut the probe short and count as a
	// failure: only ProbeTimeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.probeTimeout)
	defer cancel()
	kinesisDone := h.start(ctx, opPutCanary, h.putCanary)
	var secretDone <-chan callResult
	if h.secrets != nil {
		secretDone = h.start(ctx, opReadSecret, h.readSecret)
	}
	var failed probeError
	var times probeTimes
	var err error
	if times.kinesis, err = h.await(ctx, opPutCanary, kinesisDone); err != nil {
		failed = append(failed, depError{DepKinesis, err})
	}
	if secretDone != nil {
		if times.secret, err = h.await(ctx, opReadSecret, secretDone); err != nil {
			failed = append(failed, depError{DepSecretsManager, err})
		}
	}
	if len(failed) == 0 {
		return times, nil
	}
	return times, failed
}

// callResult is what one call of a probe did.
type callResult struct {
	err  error
	took time.Duration
}

// The calls of a probe, as its errors name them.
const (
	opPutCanary  = "put canary record"
	opReadSecret = "read api keys secret"
)

// start runs call in its own goroutine and returns where its result (wrapped
// with what) and duration arrive.
func (h *Handler) start(ctx context.Context, what string, call func(context.Context) error) <-chan callResult {
	done := make(chan callResult, 1)
	go func() {
		begin := h.now()
		defer func() {
			// A call that panics is a failed probe; waiters must still be released.
			if p := recover(); p != nil {
				done <- callResult{fmt.Errorf("%s: panic: %v", what, p), h.now().Sub(begin)}
			}
		}()
		err := call(ctx)
		switch {
		case err == nil:
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("%s: no answer within %s: %w", what, h.probeTimeout, err)
		default:
			err = fmt.Errorf("%s: %w", what, err)
		}
		done <- callResult{err, h.now().Sub(begin)}
	}()
	return done
}

// await returns the result that arrives on done, or a timeout once ctx is
// done: a call that does not honour its context must not hold the answer
// past ProbeTimeout (the duration it reports then).
func (h *Handler) await(ctx context.Context, what string, done <-chan callResult) (time.Duration, error) {
	select {
	case r := <-done:
		return r.took, r.err
	case <-ctx.Done():
	}
	select {
	case r := <-done: // it answered as the deadline passed
		return max(r.took, h.probeTimeout), r.err
	default:
		return h.probeTimeout, fmt.Errorf("%s: no answer within %s: %w", what, h.probeTimeout, ctx.Err())
	}
}

// putCanary writes one canary record.
func (h *Handler) putCanary(ctx context.Context) error {
	now := h.now()
	env := record.Envelope{
		ID:     h.ids.New(now),
		Region: h.region,
		// A fresh random key each probe: over time the canaries hash onto
		// every shard, so an impaired shard is noticed too.
		PartitionKey: rand.Text(),
		ReceivedAt:   now,
		Encoding:     record.EncodingJSON,
		Data:         canaryData,
		Canary:       true,
	}
	_, err := h.client.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName:   aws.String(h.stream),
		PartitionKey: aws.String(env.PartitionKey),
		Data:         env.Append(nil),
	})
	return err
}

// readSecret reads the API-key secret as ingest does and lets the value go
// at once: only whether it can be read matters here, so it is neither parsed,
// logged nor kept.
func (h *Handler) readSecret(ctx context.Context) error {
	out, err := h.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(h.secretID)})
	if err != nil {
		return err
	}
	if out == nil || out.SecretString == nil {
		// Ingest reads SecretString only: without one no producer can authenticate.
		return errors.New("the secret has no SecretString")
	}
	return nil
}
