// Package faultyingest is a local region for end-to-end tests of
// producers: the real ingest handler (lambdas/ingest/ingest) on
// 127.0.0.1 behind a middleware that fails on purpose as a script says
// (the WAF's 429, the ALB's 5xx, ingest's own partial 503, dropped
// connections, lost answers, hangs), with Kinesis and the spill bucket as
// in-memory stand-ins that keep what ingest wrote, and a Secrets Manager
// stand-in that knows one API key.
package faultyingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/lambdas/ingest/ingest"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// Fault is what the middleware does with one request.
type Fault string

const (
	Pass        Fault = ""        // to ingest
	TooMany     Fault = "429"     // the WAF's 429, Retry-After: 1
	ALBPage     Fault = "503-alb" // the ALB's own 503 page, not JSON
	Status500   Fault = "500"     // a 5xx without an ingest answer
	Status502   Fault = "502"     // the ALB: the function failed
	Partial     Fault = "partial" // to ingest, whose Kinesis fails the odd records and whose spill bucket fails: ingest's partial 503
	Spill       Fault = "spill"   // to ingest, whose Kinesis fails every record: it spills (202, spilled)
	StorageDown Fault = "storage" // to ingest, whose Kinesis and spill bucket fail: 503, nothing stored
	Reset       Fault = "reset"   // the connection is reset before ingest sees the request
	Lost        Fault = "lost"    // ingest stores the records, then the connection is closed: the answer is lost
	Hang        Fault = "hang"    // no answer until the client gives up the attempt or the server closes
)

// Config is one region's.
type Config struct {
	Region     string // ingest's region, and every answer's X-Twinstream-Region
	APIKey     string // the one key ingest knows
	Producer   string // whose key it is
	MaxRecords int    // ingest's MAX_RECORDS; 0: its default
}

type faultKey struct{}

// Region is one ingest behind a failing middleware, with its stores. Its
// server is closed when the test ends.
type Region struct {
	t    testing.TB
	name string
	h    *ingest.Handler
	srv  *httptest.Server

	mu       sync.Mutex
	script   []Fault
	always   Fault      // after the script; Pass by default
	requests [][]string // ids of each request that reached the middleware, decoded
	stored   map[string][]record.Envelope
	spilled  int // envelopes in spill objects
}

// New starts a region that passes every request to ingest until Set says
// otherwise.
func New(t testing.TB, cfg Config) *Region {
	t.Helper()
	r := &Region{t: t, name: cfg.Region, stored: map[string][]record.Envelope{}}
	sum := sha256.Sum256([]byte(cfg.APIKey))
	secret := fmt.Sprintf(`{"keys":[{"id":%q,"sha256":%q}]}`, cfg.Producer, hex.EncodeToString(sum[:]))
	h, err := ingest.New(ingest.Config{Region: cfg.Region, SpillBucket: "spill", KeysSecretARN: "arn:keys", MaxRecords: cfg.MaxRecords, BreakerAfter: -1},
		ingest.Deps{
			Kinesis: ingest.PutFunc(r.put),
			S3:      ingest.PutObjectFunc(r.putObject),
			Secrets: ingest.GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
				return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(secret)}, nil
			}),
		})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is ingest's.
func (r *Region) URL() string { return r.srv.URL + ingest.Path }

// Set makes the middleware do the script's faults to the next requests,
// one each, then always to every request after them.
func (r *Region) Set(script []Fault, always Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script, r.always = script, always
}

// Requests are the ids each request that reached the middleware carried,
// in order.
func (r *Region) Requests() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Snapshot returns a copy of what the region stored (Kinesis and spill
// objects, by id), the envelopes it spilled and the requests it got.
func (r *Region) Snapshot() (stored map[string][]record.Envelope, spilled, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stored = make(map[string][]record.Envelope, len(r.stored))
	for id, envs := range r.stored {
		stored[id] = slices.Clone(envs)
	}
	return stored, r.spilled, len(r.requests)
}

// Stores merges the regions' stores.
func Stores(rs ...*Region) map[string][]record.Envelope {
	all := map[string][]record.Envelope{}
	for _, r := range rs {
		r.mu.Lock()
		for id, envs := range r.stored {
			all[id] = append(all[id], envs...)
		}
		r.mu.Unlock()
	}
	return all
}

func (r *Region) keep(envs ...record.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range envs {
		r.stored[e.ID] = append(r.stored[e.ID], e)
	}
}

// put is Kinesis: it takes the entries, or fails some as the request's
// fault says.
func (r *Region) put(ctx context.Context, entries []stream.Entry) stream.Result {
	f, _ := ctx.Value(faultKey{}).(Fault)
	res := stream.Result{Calls: 1}
	for i, e := range entries {
		if f == Spill || f == StorageDown || (f == Partial && i%2 == 1) {
			res.Failed = append(res.Failed, i)
			continue
		}
		env, err := record.Decode(e.Data)
		if err != nil {
			r.t.Errorf("kinesis got an invalid envelope: %v", err)
		}
		r.keep(env)
	}
	if len(res.Failed) > 0 {
		res.Faults, res.Err = 1, errors.New("kinesis: connection refused")
	}
	return res
}

// putObject is the spill bucket.
func (r *Region) putObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f, _ := ctx.Value(faultKey{}).(Fault); f == Partial || f == StorageDown {
		return nil, errors.New("s3: service unavailable")
	}
	sc := bufio.NewScanner(in.Body)
	sc.Buffer(nil, 2<<20)
	for sc.Scan() {
		env, err := record.Decode(sc.Bytes())
		if err != nil {
			r.t.Errorf("spill object with an invalid envelope: %v", err)
		}
		r.keep(env)
		r.mu.Lock()
		r.spilled++
		r.mu.Unlock()
	}
	return &s3.PutObjectOutput{}, sc.Err()
}

// serve is the failing middleware in front of ingest.
func (r *Region) serve(w http.ResponseWriter, req *http.Request) {
	// Read first: the server notices a client gone (Hang) only once the
	// body is read.
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	f := r.always
	if len(r.script) > 0 {
		f, r.script = r.script[0], r.script[1:]
	}
	r.requests = append(r.requests, requestIDs(r.t, req.Header, body))
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req = req.WithContext(context.WithValue(req.Context(), faultKey{}, f))
	w.Header().Set("X-Twinstream-Region", r.name)
	switch f {
	case TooMany:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case ALBPage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>")
	case Status500:
		w.WriteHeader(http.StatusInternalServerError)
	case Status502:
		w.WriteHeader(http.StatusBadGateway)
	case Reset, Lost:
		if f == Lost {
			r.h.ServeHTTP(httptest.NewRecorder(), req)
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		conn.Close()
	case Hang:
		<-req.Context().Done()
	default:
		r.h.ServeHTTP(w, req)
	}
}

// requestIDs reads the ids of a request as ingest would (gzip undone).
func requestIDs(t testing.TB, h http.Header, body []byte) []string {
	if h.Get("Content-Encoding") == "gzip" {
		zr, err := gunzip(body)
		if err != nil {
			t.Errorf("gzip body: %v", err)
			return nil
		}
		body = zr
	}
	var req struct {
		Records []struct {
			ID string `json:"id"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request body: %v", err)
	}
	ids := make([]string, len(req.Records))
	for i, rec := range req.Records {
		ids[i] = rec.ID
	}
	return ids
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
