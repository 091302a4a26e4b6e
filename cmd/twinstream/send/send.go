// Package send is the work of `twinstream send`: its options and their
// limits, checked before anything is sent; a run through client/load (so
// through the producer client's batching, retries and failover); what a
// refused request means; the progress line and the summary.
package send

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twinstream/twinstream/client"
	"github.com/twinstream/twinstream/client/load"
)

// Limits of the options. A record's size is bounded by the API (see
// MaxSize); the others keep a typo from becoming a denial of service.
const (
	// MinSize is the shortest data the generator makes, {"seq":1,"pad":""}.
	// Records numbered past 9 take a byte more per digit when Size is
	// this small.
	MinSize        = 18
	MaxRate        = 1_000_000
	MaxBatch       = 10_000
	MaxConcurrency = 1024
	// MaxInFlight bounds Batch * Size * Concurrency: the records held at
	// once.
	MaxInFlight = 1 << 30
	// MaxKeyLen bounds the API key (it goes into every request's header).
	MaxKeyLen = 1024
	// maxSeqDigits is the longest sequence number of a run without Count.
	maxSeqDigits = 19
	// ulidLen is the length of the ids the client assigns.
	ulidLen = 26
)

// Options describe a run. Flag names appear in Check's errors.
type Options struct {
	// Endpoints are ingest URLs in failover order.
	Endpoints []string
	APIKey    string
	// Rate is records per second, 0: as fast as the senders go.
	Rate float64
	// Count is the records to send, 0: no bound (Duration or ctx).
	Count    int
	Duration time.Duration
	// Size is each record's data in bytes.
	Size        int
	Batch       int
	Concurrency int
	// PartitionKey is every record's; empty: the record's id.
	PartitionKey string
	// IDPrefix makes ids <IDPrefix><n>; empty: ULIDs from the client.
	IDPrefix string
	// MaxElapsed bounds the retries of one request (the client's).
	MaxElapsed time.Duration
	Gzip       bool
	// IDs keeps the acknowledged ids in the report.
	IDs bool
	// Progress is called while the run goes, every ProgressEvery.
	Progress      func(load.Progress)
	ProgressEvery time.Duration
	// Retry is called before each retry (client.Hooks.Retry).
	Retry func(client.RetryEvent)
}

// CheckURL checks an ingest URL given by an operator.
func CheckURL(s string) error {
	const want = "want an http:// or https:// URL, such as https://ingest.example.com/v1/records"
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("URL %q: %v: %s", s, err, want)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || u.Opaque != "":
		return fmt.Errorf("URL %q: %s", u.Redacted(), want)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("URL %q has no host: %s", u.Redacted(), want)
	case u.Port() != "" && !validPort(u.Port()):
		return fmt.Errorf("URL %q: port %s: want 1 to 65535", u.Redacted(), u.Port())
	case u.User != nil:
		return fmt.Errorf("URL %q holds a user name or password: give the API key with --key or $TWINSTREAM_API_KEY", u.Redacted())
	}
	return nil
}

// WithPath returns a valid URL as the client sends to it: without a path,
// ingest's (client.Path).
func WithPath(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return s
	}
	u.Path = client.Path
	return u.String()
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// CheckKey checks an API key without ever showing it.
func CheckKey(key string) error {
	switch {
	case key == "":
		return errors.New("no API key: set TWINSTREAM_API_KEY (or pass --key); `twinstream keys add NAME` makes one")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("the API key is %d bytes long: want at most %d", len(key), MaxKeyLen)
	}
	for _, r := range key {
		if r <= ' ' || r >= 0x7f {
			return errors.New("the API key holds a space, a control character (a pasted newline?) or a non-ASCII character")
		}
	}
	return nil
}

// MaxSize is the largest Size whose records the API takes: a request
// holding one record alone, {"records":[{"id":…,"partitionKey":…,"data":…}]},
// within client.MaxBody, for the longest id of the run.
func (o *Options) MaxSize() int {
	id := ulidLen
	if o.IDPrefix != "" {
		digits := maxSeqDigits
		if o.Count > 0 {
			digits = len(strconv.Itoa(o.Count))
		}
		id = quotedLen(o.IDPrefix) - 2 + digits
	}
	n := len(`{"records":[{"id":""`) + id + len(`,"data":}]}`)
	if o.PartitionKey != "" {
		n += len(`,"partitionKey":`) + quotedLen(o.PartitionKey)
	}
	return client.MaxBody - n
}

// quotedLen is the bytes s (valid UTF-8) takes as a JSON string as the
// client writes it: only '"', '\\' and control characters escaped.
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}

// Check says what is wrong with the options, naming the flag.
func (o *Options) Check() error {
	if err := o.CheckEndpoints(); err != nil {
		return err
	}
	return o.CheckRun()
}

// CheckEndpoints checks the ingest URLs.
func (o *Options) CheckEndpoints() error {
	if len(o.Endpoints) == 0 {
		return errors.New("no ingest URL: pass --url")
	}
	seen := map[string]bool{}
	for _, e := range o.Endpoints {
		if err := CheckURL(e); err != nil {
			return fmt.Errorf("--url: %w", err)
		}
		k := WithPath(e)
		if seen[k] {
			return fmt.Errorf("--url %q given twice", k)
		}
		seen[k] = true
	}
	return nil
}

// CheckRun checks everything but the endpoints: the command checks it
// before it looks the endpoints up.
func (o *Options) CheckRun() error {
	if err := CheckKey(o.APIKey); err != nil {
		return err
	}
	switch {
	case math.IsNaN(o.Rate) || o.Rate < 0 || o.Rate > MaxRate:
		return fmt.Errorf("--rate %v: want 0 (as fast as possible) to %d records/s", o.Rate, MaxRate)
	case o.Count < 0:
		return fmt.Errorf("--count %d: want 0 (no bound) or more", o.Count)
	case o.Duration < 0:
		return fmt.Errorf("--duration %v: want 0 (no bound) or more", o.Duration)
	case o.Batch < 1 || o.Batch > MaxBatch:
		return fmt.Errorf("--batch %d: want 1 to %d records", o.Batch, MaxBatch)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("--concurrency %d: want 1 to %d", o.Concurrency, MaxConcurrency)
	case o.MaxElapsed <= 0:
		return fmt.Errorf("--max-elapsed %v: want more than 0", o.MaxElapsed)
	}
	if o.PartitionKey != "" && !printable(o.PartitionKey, client.MaxPartitionKeyLen, true) {
		return fmt.Errorf("--partition-key: want 1-%d characters of printable UTF-8", client.MaxPartitionKeyLen)
	}
	if o.IDPrefix != "" && !printable(o.IDPrefix, client.MaxIDLen-maxSeqDigits, false) {
		return fmt.Errorf("--id-prefix: want 1-%d bytes of printable UTF-8 (ids are the prefix and a number, at most %d bytes)", client.MaxIDLen-maxSeqDigits, client.MaxIDLen)
	}
	if most := o.MaxSize(); o.Size < MinSize || o.Size > most {
		return fmt.Errorf("--size %d: want %d to %d bytes (a request holding one record alone must fit ingest's %d-byte body limit)", o.Size, MinSize, most, client.MaxBody)
	}
	if held := int64(o.Batch) * int64(o.Size) * int64(o.Concurrency); held > MaxInFlight {
		return fmt.Errorf("--batch %d × --size %d × --concurrency %d holds %d MiB of records at once: want at most %d MiB", o.Batch, o.Size, o.Concurrency, held>>20, MaxInFlight>>20)
	}
	return nil
}

// printable: valid UTF-8 without control characters, at most most runes
// (runes) or bytes.
func printable(s string, most int, runes bool) bool {
	n := len(s)
	if runes {
		n = utf8.RuneCountInString(s)
	}
	if !utf8.ValidString(s) || n > most {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Run sends as o says until Count records are sent, Duration passed or
// ctx ends (the batches in flight then get load's grace), and reports. The
// error is the refusal that stopped the run (*client.RejectError), or a
// configuration error with a nil report.
func Run(ctx context.Context, o Options) (*load.Report, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	// Idle connections for every sender, to each endpoint.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = o.Concurrency
	defer tr.CloseIdleConnections()
	return load.Run(ctx, load.Config{
		Client: client.Config{
			Endpoints:  o.Endpoints,
			APIKey:     o.APIKey,
			HTTPClient: &http.Client{Transport: tr},
			MaxElapsed: o.MaxElapsed,
			Gzip:       o.Gzip,
			UserAgent:  "twinstream-send",
			Hooks:      client.Hooks{Retry: o.Retry},
		},
		Rate:          o.Rate,
		Count:         o.Count,
		Duration:      o.Duration,
		RecordSize:    o.Size,
		BatchSize:     o.Batch,
		Concurrency:   o.Concurrency,
		PartitionKey:  o.PartitionKey,
		IDPrefix:      o.IDPrefix,
		NoIDs:         !o.IDs,
		Progress:      o.Progress,
		ProgressEvery: o.ProgressEvery,
	})
}

// Retries names the failures retried, each once: the first of each kind
// says why a run is slow (an endpoint that does not answer is retried
// until MaxElapsed). Safe for concurrent use.
type Retries struct {
	// Note is given each new failure, at most Max of them (default 10).
	Note func(string)
	Max  int

	mu   sync.Mutex
	seen map[string]bool
}

// Retry is a client.Hooks.Retry.
func (r *Retries) Retry(e client.RetryEvent) {
	why := fmt.Sprintf("%d %s from %s", e.Status, http.StatusText(e.Status), e.Endpoint)
	if e.Status == 0 {
		why = "no answer from " + e.Endpoint
		var ue *url.Error
		if errors.As(e.Err, &ue) {
			why += ": " + ue.Err.Error()
		} else if e.Err != nil {
			why += ": " + e.Err.Error()
		}
	} else if e.RetryAfter > 0 {
		why += fmt.Sprintf(" (Retry-After %v)", e.RetryAfter)
	}
	r.mu.Lock()
	most := r.Max
	if most == 0 {
		most = 10
	}
	fresh := !r.seen[why] && len(r.seen) < most
	if fresh {
		if r.seen == nil {
			r.seen = map[string]bool{}
		}
		r.seen[why] = true
	}
	r.mu.Unlock()
	if fresh {
		r.Note("retrying: " + why)
	}
}

// Explain turns the refusal that stopped a run into what the operator
// needs to know; keyFrom says where the key came from (--key or
// $TWINSTREAM_API_KEY). Refused keys (401, 403) say so first.
func Explain(err error, keyFrom string) error {
	var rej *client.RejectError
	if !errors.As(err, &rej) {
		return err
	}
	status := fmt.Sprintf("%d %s from %s", rej.Status, http.StatusText(rej.Status), rej.Endpoint)
	switch rej.Status {
	case http.StatusUnauthorized:
		return fmt.Errorf("API key refused (%s): ingest does not know the key from %s, or it was revoked; `twinstream keys list` shows the keys, `twinstream keys add NAME` makes one (ingest sees a new key within its API_KEYS_TTL, 5 minutes by default)", status, keyFrom)
	case http.StatusForbidden:
		return fmt.Errorf("request forbidden (%s): the API key from %s, or a rule in front of ingest (WAF), refused it", status, keyFrom)
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return fmt.Errorf("not an ingest URL (%s): want the URL producers POST to, such as the global stack's ProducerUrl output (path %s)", status, client.Path)
	case 0:
		return err
	}
	why := ""
	if rej.Message != "" {
		why = ": " + rej.Message
	}
	for i, r := range rej.Records {
		if i == 3 {
			why += fmt.Sprintf("; and %d more records", len(rej.Records)-3)
			break
		}
		why += fmt.Sprintf("; record %q: %s", r.ID, r.Reason)
	}
	return fmt.Errorf("ingest refused a request (%s)%s; ingest stores nothing of a refused request, and the run stopped", status, why)
}
