// Package ingest is the producers' entry point: POST /v1/records behind the
// ALB. It checks the API key, validates every record, wraps each in its
// envelope and writes them to Kinesis within a deadline budget. What Kinesis
// does not take goes to the spill bucket (S3), so the answer is a success as
// long as every record is stored somewhere; nothing is acknowledged that is not.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twinstream/twinstream/lambdas/metrics"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// Path is the only route.
const Path = "/v1/records"

// Defaults of Config (and of the environment main.go reads).
const (
	DefaultKeysTTL            = 5 * time.Minute
	DefaultKeysFailureTTL     = 5 * time.Second
	DefaultSecretTimeout      = 2 * time.Second
	DefaultMaxRecords         = 500
	DefaultKinesisBudget      = 3 * time.Second
	DefaultKinesisCallTimeout = time.Second
	DefaultSpillTimeout       = 4 * time.Second
	DefaultMargin             = 200 * time.Millisecond
	DefaultBreakerAfter       = 3
	DefaultBreakerCooldown    = 5 * time.Second
	// MaxMaxRecords bounds MaxRecords so that a 400 answer listing every
	// record as bad stays under MaxResponse (at most about 150 bytes per
	// record, see TestAnswersFit). 202 and 503 answers list every id, so
	// a request whose ids could not fit is refused before writing (see
	// answerSize).
	MaxMaxRecords = 5000
)

// Putter writes entries to Kinesis: *stream.Writer, or *stream.Packer
// around it (packed records, the default of the deployed function). Entries
// are envelopes; Failed names the envelopes not written.
type Putter interface {
	Put(ctx context.Context, entries []stream.Entry) stream.Result
}

// PutFunc adapts a function to Putter (fakes in tests).
type PutFunc func(ctx context.Context, entries []stream.Entry) stream.Result

// Put calls f.
func (f PutFunc) Put(ctx context.Context, entries []stream.Entry) stream.Result {
	return f(ctx, entries)
}

// PutObjectAPI is the part of the S3 client the handler uses for spill objects.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// PutObjectFunc adapts a function to PutObjectAPI (fakes in tests).
type PutObjectFunc func(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)

// PutObject calls f.
func (f PutObjectFunc) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f(ctx, in, opts...)
}

// Config is the handler's configuration. Zero durations and counts take the
// defaults documented on each field.
type Config struct {
	// Region is written into every envelope (AWS_REGION). Required.
	Region string
	// SpillBucket receives what Kinesis does not take. Required.
	SpillBucket string
	// SpillPrefix starts spill object keys. Default "spill".
	SpillPrefix string
	// KeysSecretARN names the secret holding the API key hashes. Required.
	KeysSecretARN string
	// KeysTTL is how long the key set is cached. Default 5m.
	KeysTTL time.Duration
	// KeysFailureTTL: while no key set was ever loaded (a new execution
	// environment), a failed fetch of the secret is remembered this long,
	// and requests answer 503 with Retry-After at once rather than each
	// waiting up to SecretTimeout for a Secrets Manager that is down.
	// Default 5s. (With a key set loaded, a failed refresh keeps using it.)
	KeysFailureTTL time.Duration
	// SecretTimeout bounds the GetSecretValue call. Default 2s.
	SecretTimeout time.Duration
	// MaxRecords is the most records one request may hold. Default 500.
	MaxRecords int
	// KinesisBudget bounds the time spent writing to Kinesis, retries
	// included. Default 3s; less when the request's deadline leaves less.
	KinesisBudget time.Duration
	// SpillTimeout bounds the spill PutObject call, and is kept free of
	// the Kinesis budget before the request's deadline. Default 4s.
	SpillTimeout time.Duration
	// Margin is kept free before the request's deadline to answer. Default 200ms.
	Margin time.Duration
	// BreakerAfter: after this many requests in a row in which Kinesis took
	// no record, requests spill at once (without waiting for Kinesis) for
	// BreakerCooldown, then one request tries Kinesis again. Default 3;
	// negative disables it.
	BreakerAfter int
	// BreakerCooldown is how long requests skip Kinesis. Default 5s.
	BreakerCooldown time.Duration
	// MetricsNamespace is the CloudWatch namespace of the request lines'
	// metrics (METRICS_NAMESPACE; see package metrics). Empty: the lines
	// carry the values but CloudWatch extracts none. An invalid one is
	// logged and treated as empty: metrics never stop ingest.
	MetricsNamespace string
}

// Deps are the handler's collaborators.
type Deps struct {
	Kinesis Putter            // required
	S3      PutObjectAPI      // required
	Secrets GetSecretValueAPI // required
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// IDs makes record and request ids. Default record.NewIDs().
	IDs *record.IDs
}

// Handler serves POST /v1/records. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	kinesis Putter
	s3      PutObjectAPI
	now     func() time.Time
	ids     *record.IDs
	keys    *keyring
	breaker *breaker
	metrics *metrics.Emitter
}

// New checks the configuration and returns a handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"Region", cfg.Region != ""},
		{"SpillBucket", cfg.SpillBucket != ""},
		{"KeysSecretARN", cfg.KeysSecretARN != ""},
		{"Deps.Kinesis", deps.Kinesis != nil},
		{"Deps.S3", deps.S3 != nil},
		{"Deps.Secrets", deps.Secrets != nil},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ingest: missing %s", strings.Join(missing, ", "))
	}
	if cfg.MaxRecords < 0 || cfg.MaxRecords > MaxMaxRecords {
		return nil, fmt.Errorf("ingest: MaxRecords %d: want 1 to %d", cfg.MaxRecords, MaxMaxRecords)
	}
	cfg.SpillPrefix = strings.Trim(cfg.SpillPrefix, "/")
	if cfg.SpillPrefix == "" {
		cfg.SpillPrefix = "spill"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.KeysTTL, DefaultKeysTTL)
	def(&cfg.KeysFailureTTL, DefaultKeysFailureTTL)
	def(&cfg.SecretTimeout, DefaultSecretTimeout)
	def(&cfg.KinesisBudget, DefaultKinesisBudget)
	def(&cfg.SpillTimeout, DefaultSpillTimeout)
	def(&cfg.Margin, DefaultMargin)
	def(&cfg.BreakerCooldown, DefaultBreakerCooldown)
	if cfg.BreakerAfter == 0 {
		cfg.BreakerAfter = DefaultBreakerAfter
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	h := &Handler{cfg: cfg, kinesis: deps.Kinesis, s3: deps.S3, now: deps.Now, ids: deps.IDs}
	if h.now == nil {
		h.now = time.Now
	}
	if h.ids == nil {
		h.ids = record.NewIDs()
	}
	h.breaker = &breaker{after: max(cfg.BreakerAfter, 0), cooldown: cfg.BreakerCooldown, now: h.now}
	h.keys = &keyring{fetch: secretKeys(deps.Secrets, cfg.KeysSecretARN, cfg.SecretTimeout), ttl: cfg.KeysTTL, failTTL: cfg.KeysFailureTTL, now: h.now}
	var err error
	if h.metrics, err = metrics.New(cfg.MetricsNamespace); err != nil {
		slog.Warn("ingest: metrics are off", "error", err.Error())
	}
	return h, nil
}

// answer is what a request gets back, plus what its log line says.
type answer struct {
	status int
	header map[string]string
	body   any
	// for the log
	key                      string
	records, accepted, spill int
	calls                    int
	err                      error
	// for the metrics: storing started (the request was valid); whether
	// Kinesis was tried, for how long, and what it said; whether the
	// breaker kept the request from trying
	storing, tried    bool
	putTime           time.Duration
	throttled, faults int
	breakerOpen       bool
}

// HealthPath answers the ALB's health check of the ingest target group: 200
// when the function runs. It needs no key and touches no dependency (the
// region's Kinesis health is the health function's job).
const HealthPath = "/health"

// ServeHTTP answers one request and logs one line about it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		write(w, answer{status: http.StatusOK, body: struct {
			Status string `json:"status"`
		}{"ok"}})
		return
	}
	ctx := r.Context()
	start := time.Now()
	var a answer
	defer func() {
		// Last resort: serve never panics by design; if it does anyway the
		// producer gets a 500 (nothing acknowledged) and the log says why.
		if v := recover(); v != nil {
			a = answer{status: http.StatusInternalServerError, body: errBody("internal error"), key: a.key, err: fmt.Errorf("panic: %v", v)}
			slog.ErrorContext(ctx, "ingest: panic", "panic", fmt.Sprint(v))
		}
		write(w, a)
		attrs := []slog.Attr{slog.Int("status", a.status), slog.String("key", a.key), slog.Int("records", a.records),
			slog.Int("accepted", a.accepted), slog.Int("spilled", a.spill), slog.Int("kinesisCalls", a.calls),
			slog.Int64("ms", time.Since(start).Milliseconds())}
		if a.err != nil {
			attrs = append(attrs, slog.String("error", a.err.Error()))
		}
		slog.LogAttrs(ctx, slog.LevelInfo, "ingest", append(attrs, h.lineMetrics(a)...)...)
	}()
	a = h.serve(ctx, r)
}

// lineMetrics are the metrics of a request's log line (see package metrics
// for what each means).
func (h *Handler) lineMetrics(a answer) []slog.Attr {
	l := h.metrics.Line()
	class := metrics.StatusClassOf(a.status)
	l.Dimension(metrics.StatusClass, class)
	l.Count(metrics.Requests, 1)
	l.Count(metrics.Accepted, a.accepted)
	l.Count(metrics.Spilled, a.spill)
	if a.status >= 400 {
		l.Count(metrics.Rejected, max(a.records-a.accepted, 0))
	}
	if a.storing {
		l.Count(metrics.KinesisThrottled, a.throttled)
		l.Count(metrics.KinesisFaults, a.faults)
		l.Count(metrics.BreakerOpen, b2i(a.breakerOpen))
		if a.tried {
			l.Duration(metrics.KinesisPutLatency, a.putTime)
		}
	}
	return l.Attrs(h.now())
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// answerBufs holds the buffers answers are encoded into: an execution
// environment serves one request at a time, so one buffer is reused.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func write(w http.ResponseWriter, a answer) {
	buf := answerBufs.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		answerBufs.Put(buf)
	}()
	// No HTML escaping: the answer is JSON for programs, and '<' as \u003c
	// would take 6 of the ALB's response bytes instead of 1.
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	body := []byte(`{"error":"internal error"}`)
	if err := enc.Encode(a.body); err != nil {
		a.status = http.StatusInternalServerError
	} else {
		body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	for k, v := range a.header {
		hdr.Set(k, v)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(body)
}

type errorBody struct {
	Error string `json:"error"`
}

func errBody(msg string) errorBody { return errorBody{Error: msg} }

func (h *Handler) serve(ctx context.Context, r *http.Request) answer {
	if r.URL.Path != Path {
		return answer{status: http.StatusNotFound, body: struct {
			Error string `json:"error"`
			Path  string `json:"path"`
		}{"not found", r.URL.Path}, err: errors.New("unknown path")}
	}
	if r.Method != http.MethodPost {
		return answer{status: http.StatusMethodNotAllowed, header: map[string]string{"Allow": http.MethodPost},
			body: errBody("method " + r.Method + " not allowed, use POST"), err: errors.New("method not allowed")}
	}

	key, a, ok := h.auth(ctx, r.Header.Get("Authorization"))
	if !ok {
		return a
	}
	a = answer{key: key}

	ct := r.Header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil || (mediaType != TypeJSON && mediaType != TypeNDJSON && mediaType != TypeBinary) {
		a.status, a.err = http.StatusUnsupportedMediaType, fmt.Errorf("unsupported content type %q", ct)
		a.body = struct {
			Error       string   `json:"error"`
			ContentType string   `json:"contentType"`
			Supported   []string `json:"supported"`
		}{"unsupported content type", ct, []string{TypeJSON, TypeNDJSON, TypeBinary}}
		return a
	}

	coding, ok := contentEncoding(r.Header)
	if !ok {
		ce := strings.Join(r.Header.Values("Content-Encoding"), ", ")
		a.status, a.err = http.StatusUnsupportedMediaType, fmt.Errorf("unsupported content encoding %q", ce)
		a.body = struct {
			Error           string   `json:"error"`
			ContentEncoding string   `json:"contentEncoding"`
			Supported       []string `json:"supported"`
		}{"unsupported content encoding", ce, []string{EncodingGzip, EncodingIdentity}}
		return a
	}

	body, err := readBody(r)
	if err != nil {
		a.err = err
		if errors.Is(err, errTooLarge) {
			a.status = http.StatusRequestEntityTooLarge
			a.body = struct {
				Error string `json:"error"`
				Limit int    `json:"limit"`
			}{"body too large", MaxBody}
			return a
		}
		a.status, a.body = http.StatusBadRequest, errBody("cannot read body")
		return a
	}
	if coding == EncodingGzip {
		if body, err = gunzip(body, MaxDecodedBody); err != nil {
			a.err = err
			if errors.Is(err, errDecodedTooLarge) {
				a.status = http.StatusRequestEntityTooLarge
				a.body = struct {
					Error string `json:"error"`
					Limit int    `json:"limit"`
				}{"decompressed body too large", MaxDecodedBody}
				return a
			}
			a.status = http.StatusBadRequest
			a.body = reject{Error: "invalid gzip body", Detail: strings.TrimPrefix(err.Error(), errBadGzip.Error()+": ")}
			return a
		}
	}

	ins, bad, n, rej := parse(body, mediaType, r.Header, h.cfg.MaxRecords)
	if rej != nil {
		a.status, a.body, a.err = http.StatusBadRequest, rej, errors.New(rej.Error)
		return a
	}
	a.records = n
	now := h.now().UTC().Truncate(time.Millisecond)
	var envs []record.Envelope
	var entries []stream.Entry
	if bad == nil {
		envs, entries, bad = envelopes(ins, key, h.cfg.Region, now, func() string { return h.ids.New(now) })
		for i := range entries {
			// A record sent without a partition key has its id as one and
			// no wish for ordering: a stream.Packer may pack it with others.
			entries[i].AnyShard = i < len(ins) && ins[i].pk == ""
		}
	}
	if bad != nil {
		a.status, a.err = http.StatusBadRequest, fmt.Errorf("%d invalid records, first %d: %s", len(bad), bad[0].Index, bad[0].Reason)
		a.body = struct {
			Error   string      `json:"error"`
			Records []badRecord `json:"records"`
		}{"invalid records", bad}
		return a
	}
	if size := answerSize(envs); size > MaxResponse {
		// Checked before writing: records stored and then answered with a
		// response the ALB drops (502) would be retried as new records.
		a.status, a.err = http.StatusBadRequest, fmt.Errorf("answer of %d bytes would exceed the response limit", size)
		a.body = struct {
			Error   string `json:"error"`
			Records int    `json:"records"`
			Size    int    `json:"size"`
			Limit   int    `json:"limit"`
		}{fmt.Sprintf("too many long ids: the answer listing these %d records' ids could take %d bytes, over the load balancer's limit of %d bytes; send fewer records or shorter ids", len(envs), size, MaxResponse),
			len(envs), size, MaxResponse}
		return a
	}
	return h.store(ctx, a, now, envs, entries)
}

// auth checks the bearer key. It returns the key's id, or the answer to give.
func (h *Handler) auth(ctx context.Context, header string) (string, answer, bool) {
	deny := func(msg string) (string, answer, bool) {
		return "", answer{status: http.StatusUnauthorized, header: map[string]string{"WWW-Authenticate": `Bearer realm="twinstream"`},
			body: errBody(msg), err: errors.New(msg)}, false
	}
	if header == "" {
		return deny("missing Authorization header")
	}
	key, ok := bearer(header)
	if !ok {
		return deny("malformed Authorization header: want Bearer <key>")
	}
	keys, err := h.keys.get(ctx)
	if err != nil {
		// Not 401: the key may well be valid; the producer should retry,
		// when the next fetch of the keys will be tried.
		retry := 1
		var ku *keysUnavailable
		if errors.As(err, &ku) {
			retry = max(1, int(math.Ceil(ku.retryAt.Sub(h.now()).Seconds())))
		}
		return "", answer{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": strconv.Itoa(retry)},
			body: errBody("cannot check API keys now, retry later"), err: err}, false
	}
	id, ok := match(keys, key)
	if !ok {
		return deny("unknown API key")
	}
	return id, answer{}, true
}

var errTooLarge = errors.New("body too large")

// readBody reads at most MaxBody bytes, never an unbounded amount.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBody {
		return nil, errTooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// ReadFrom wants MinRead bytes free before it sees EOF.
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if r.Body == nil {
		return nil, nil
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if n > MaxBody {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

type accepted struct {
	Accepted int      `json:"accepted"`
	Spilled  int      `json:"spilled"`
	IDs      []string `json:"ids"`
}

// unavailable is the 503 answer when some records are not stored. Every
// record's id is in it (stored, or failedIds beside its index in failed), so
// a producer resends the failed ones with the same ids: a retry of a record
// that was in fact stored is then a duplicate, which consumers drop.
type unavailable struct {
	Error     string   `json:"error"`
	Stored    []string `json:"stored"`
	Failed    []int    `json:"failed"`
	FailedIDs []string `json:"failedIds"`
}

// store writes the entries to Kinesis within the budget, spills what Kinesis
// did not take, and says what is stored.
func (h *Handler) store(ctx context.Context, a answer, now time.Time, envs []record.Envelope, entries []stream.Entry) answer {
	// Once writing starts it finishes even if the producer goes away, so the
	// outcome is never "half written, nothing said" (only deadlines apply).
	base := context.WithoutCancel(ctx)
	failed := make([]bool, len(entries))
	nFailed := 0
	var kerr error
	budget := h.kinesisBudget(ctx)
	a.storing = true
	switch {
	case budget > 0 && h.breaker.allow():
		var res stream.Result
		start := time.Now()
		res, nFailed = h.put(base, budget, entries, failed)
		a.tried, a.putTime = true, time.Since(start)
		a.calls, kerr = res.Calls, res.Err
		a.throttled, a.faults = res.Throttled, res.Faults
	default:
		kerr = errors.New("no time left for kinesis")
		if budget > 0 {
			kerr = errKinesisSkipped
			a.breakerOpen = true
		}
		for i := range failed {
			failed[i] = true
		}
		nFailed = len(failed)
	}

	ids := make([]string, len(envs))
	for i := range envs {
		ids[i] = envs[i].ID
	}
	if nFailed > 0 {
		spillKey, err := h.spill(ctx, base, now, entries, failed, nFailed)
		if err != nil {
			a.status, a.header = http.StatusServiceUnavailable, map[string]string{"Retry-After": "1"}
			a.err = fmt.Errorf("%w; kinesis: %v", err, kerr)
			body := unavailable{Error: "kinesis and the spill bucket did not take the records; records listed in failed are not stored: resend them with the ids in failedIds",
				Stored: []string{}, Failed: make([]int, 0, nFailed), FailedIDs: make([]string, 0, nFailed)}
			for i, f := range failed {
				if f {
					body.Failed = append(body.Failed, i)
					body.FailedIDs = append(body.FailedIDs, ids[i])
				} else {
					body.Stored = append(body.Stored, ids[i])
				}
			}
			a.body, a.accepted = body, len(body.Stored)
			return a
		}
		slog.InfoContext(ctx, "ingest: spilled", "key", a.key, "records", nFailed, "object", spillKey, "kinesisError", fmt.Sprint(kerr))
		a.spill = nFailed
	}
	a.status, a.accepted = http.StatusAccepted, len(entries)
	a.body = accepted{Accepted: len(entries), Spilled: a.spill, IDs: ids}
	return a
}

// put writes the entries to Kinesis within budget, marks in failed those
// not written and counts them. It tells the breaker what happened, deferred:
// a panic inside Put must not leave a probe running for ever.
func (h *Handler) put(base context.Context, budget time.Duration, entries []stream.Entry, failed []bool) (stream.Result, int) {
	v := unknown
	defer func() { h.breaker.done(v) }()
	kctx, cancel := context.WithTimeout(base, budget)
	defer cancel()
	res := h.kinesis.Put(kctx, entries)
	n := 0
	for _, i := range res.Failed {
		if i >= 0 && i < len(failed) && !failed[i] {
			failed[i] = true
			n++
		}
	}
	v = judge(res, len(entries), n)
	return res, n
}

// errKinesisSkipped says why a request spilled without trying Kinesis.
var errKinesisSkipped = errors.New("kinesis skipped: it failed the last requests, retrying after the cooldown")

// kinesisBudget is KinesisBudget, less when the request's deadline leaves
// less: the spill call and the answer must still fit before it.
func (h *Handler) kinesisBudget(ctx context.Context) time.Duration {
	b := h.cfg.KinesisBudget
	if dl, ok := ctx.Deadline(); ok {
		b = min(b, time.Until(dl)-h.cfg.SpillTimeout-h.cfg.Margin)
	}
	return b
}

// spill writes the failed entries as one NDJSON object and returns its key.
func (h *Handler) spill(ctx, base context.Context, now time.Time, entries []stream.Entry, failed []bool, n int) (string, error) {
	size := 0
	for i, e := range entries {
		if failed[i] {
			size += len(e.Data) + 1
		}
	}
	body := make([]byte, 0, size)
	for i, e := range entries {
		if failed[i] {
			body = append(body, e.Data...)
			body = append(body, '\n')
		}
	}
	key := SpillKey(h.cfg.SpillPrefix, h.cfg.Region, now, h.ids.New(now))
	timeout := h.cfg.SpillTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-h.cfg.Margin)
	}
	sctx, cancel := context.WithTimeout(base, timeout)
	defer cancel()
	_, err := h.s3.PutObject(sctx, &s3.PutObjectInput{
		Bucket:        aws.String(h.cfg.SpillBucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(TypeNDJSON),
	})
	if err != nil {
		return key, fmt.Errorf("spill %d records to s3://%s/%s: %w", n, h.cfg.SpillBucket, key, err)
	}
	return key, nil
}

// SpillKey is the key of a spill object:
// <prefix>/<xx>/region=<r>/dt=<yyyy-mm-dd>/hr=<hh>/<request id>.ndjson
// (UTC), where xx is spillPartition(requestID). S3 serves about 3,500 PUTs
// (and DELETEs) per second per partitioned prefix, and splits partitions
// by key range: keys that begin with the time all land at the end of one
// range, so a region-wide outage would spill through one partition. The
// hash right after the prefix spreads them evenly over 256 prefixes,
// under each of which keys still sort by time.
func SpillKey(prefix, region string, t time.Time, requestID string) string {
	t = t.UTC()
	return prefix + "/" + spillPartition(requestID) + "/region=" + region + "/dt=" + t.Format("2006-01-02") + "/hr=" + t.Format("15") + "/" + requestID + ".ndjson"
}

// spillPartition is the hash prefix of a spill key: two hex digits of the
// request id's FNV-1a hash, folded to 8 bits, "00" to "ff".
func spillPartition(requestID string) string {
	h := fnv.New32a()
	io.WriteString(h, requestID)
	v := h.Sum32()
	v ^= v >> 16
	v ^= v >> 8
	const hex = "0123456789abcdef"
	return string([]byte{hex[v>>4&0xf], hex[v&0xf]})
}
