package ingest

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// testKey is the API key of team-test in testdata/api-keys-secret.json and
// the ALB fixtures: its SHA-256 is
// 9cf4af11f624260a01f669e67954f77394911a51dd32fa3e522b5bace0f8eddc.
const testKey = "ts-test-key-0123456789"

// t0 is the fake clock's time.
var t0 = time.Date(2025, 11, 25, 13, 4, 5, 678_900_000, time.UTC)

func TestMain(m *testing.M) {
	// Keep test output readable; TestLogs installs its own logger.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

func TestTestKeyHash(t *testing.T) {
	sum := sha256.Sum256([]byte(testKey))
	got := hex.EncodeToString(sum[:])
	keys, err := parseKeys(readFile(t, "testdata/api-keys-secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(keys[0].hash[:]); got != want {
		t.Errorf("sha256(testKey) = %s, want %s (testdata/api-keys-secret.json)", got, want)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secretFile serves testdata/api-keys-secret.json and counts calls.
func secretFile(t testing.TB, calls *atomic.Int32) GetSecretValueFunc {
	s := string(readFile(t, "testdata/api-keys-secret.json"))
	return func(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		if calls != nil {
			calls.Add(1)
		}
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("GetSecretValue called without a deadline")
		}
		if got := aws.ToString(in.SecretId); got != "arn:secret" {
			return nil, fmt.Errorf("secret id %q, want arn:secret", got)
		}
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s)}, nil
	}
}

// kinesisFake records what it is given and fails the indices fail says:
// as faults (Kinesis not answering), or as throttling when throttle is set.
type kinesisFake struct {
	mu       sync.Mutex
	entries  []stream.Entry // written
	calls    int
	fail     func(i int) bool
	throttle bool
}

func (k *kinesisFake) Put(ctx context.Context, entries []stream.Entry) stream.Result {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	var res stream.Result
	res.Calls = 1
	for i, e := range entries {
		if k.fail != nil && k.fail(i) {
			res.Failed = append(res.Failed, i)
			continue
		}
		k.entries = append(k.entries, e)
	}
	switch {
	case len(res.Failed) == 0:
	case k.throttle:
		res.Throttled = len(res.Failed)
		res.Err = errors.New("put records: ProvisionedThroughputExceededException")
	default:
		res.Faults = 1
		res.Err = errors.New("put records: dial tcp: connection refused")
	}
	return res
}

func failAll(int) bool { return true }

// spillFake stores objects, or fails when err is set.
type spillFake struct {
	mu   sync.Mutex
	objs map[string][]byte
	ct   map[string]string
	err  error
}

func (s *spillFake) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("PutObject called without a deadline")
	}
	if s.err != nil {
		return nil, s.err
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objs == nil {
		s.objs, s.ct = map[string][]byte{}, map[string]string{}
	}
	if aws.ToString(in.Bucket) != "spill-bucket" {
		return nil, fmt.Errorf("bucket %q, want spill-bucket", aws.ToString(in.Bucket))
	}
	s.objs[aws.ToString(in.Key)] = b
	s.ct[aws.ToString(in.Key)] = aws.ToString(in.ContentType)
	return &s3.PutObjectOutput{}, nil
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testConfig() Config {
	return Config{Region: "us-east-1", SpillBucket: "spill-bucket", KeysSecretARN: "arn:secret"}
}

func newHandler(t testing.TB, cfg Config, k Putter, sp PutObjectAPI, sec GetSecretValueAPI, now func() time.Time) *Handler {
	t.Helper()
	if sec == nil {
		sec = secretFile(t, nil)
	}
	if now == nil {
		now = func() time.Time { return t0 }
	}
	h, err := New(cfg, Deps{Kinesis: k, S3: sp, Secrets: sec, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func post(ct, auth, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

// reply is the union of the answer bodies.
type reply struct {
	Error       string      `json:"error"`
	Accepted    *int        `json:"accepted"`
	Spilled     *int        `json:"spilled"`
	IDs         []string    `json:"ids"`
	Records     []badRecord `json:"records"`
	Stored      []string    `json:"stored"`
	Failed      []int       `json:"failed"`
	FailedIDs   []string    `json:"failedIds"`
	Count       int         `json:"count"`
	Limit       int         `json:"limit"`
	Detail      string      `json:"detail"`
	Path        string      `json:"path"`
	ContentType string      `json:"contentType"`
}

type result struct {
	status int
	header http.Header
	body   reply
	raw    string
}

func serve(t testing.TB, h http.Handler, r *http.Request) result {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := result{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, w.Body.String())
	}
	return res
}

func jsonRecords(n int) string {
	var b strings.Builder
	b.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"data":{"n":%d}}`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

const bearerKey = "Bearer " + testKey

func TestServe(t *testing.T) {
	big := strings.Repeat("x", record.MaxKinesisRecord-100)
	type setup struct {
		cfg     Config
		fail    func(int) bool
		s3Err   error
		secrets GetSecretValueAPI
	}
	tests := []struct {
		name   string
		setup  setup
		req    func() *http.Request
		status int
		errSub string // substring of the error field
		check  func(t *testing.T, r result, k *kinesisFake, sp *spillFake)
	}{
		{
			name:   "202 all in kinesis",
			req:    func() *http.Request { return post("application/json", bearerKey, jsonRecords(3)) },
			status: http.StatusAccepted,
			check: func(t *testing.T, r result, k *kinesisFake, sp *spillFake) {
				wantCounts(t, r, 3, 0)
				if len(k.entries) != 3 || len(sp.objs) != 0 {
					t.Errorf("kinesis has %d, spill has %d objects, want 3 and 0", len(k.entries), len(sp.objs))
				}
			},
		},
		{
			name:   "202 partial spill",
			setup:  setup{fail: func(i int) bool { return i == 1 }},
			req:    func() *http.Request { return post("application/json", bearerKey, jsonRecords(3)) },
			status: http.StatusAccepted,
			check: func(t *testing.T, r result, k *kinesisFake, sp *spillFake) {
				wantCounts(t, r, 3, 1)
				got := spilledIDs(t, sp)
				if want := []string{r.body.IDs[1]}; !slices.Equal(got, want) {
					t.Errorf("spilled ids %v, want %v", got, want)
				}
				if len(k.entries) != 2 {
					t.Errorf("kinesis has %d entries, want 2", len(k.entries))
				}
			},
		},
		{
			name:   "202 all spilled when kinesis is down",
			setup:  setup{fail: failAll},
			req:    func() *http.Request { return post("application/json", bearerKey, jsonRecords(4)) },
			status: http.StatusAccepted,
			check: func(t *testing.T, r result, k *kinesisFake, sp *spillFake) {
				wantCounts(t, r, 4, 4)
				if got := spilledIDs(t, sp); !slices.Equal(got, r.body.IDs) {
					t.Errorf("spilled ids %v, want %v", got, r.body.IDs)
				}
			},
		},
		{
			name:   "400 invalid JSON body",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":[{"data":1},]}`) },
			status: http.StatusBadRequest,
			errSub: "invalid JSON body",
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if !strings.Contains(r.body.Detail, "at byte") {
					t.Errorf("detail %q, want the offset of the syntax error", r.body.Detail)
				}
			},
		},
		{
			name:   "400 body not an object",
			req:    func() *http.Request { return post("application/json", bearerKey, `[{"data":1}]`) },
			status: http.StatusBadRequest,
			errSub: "body must be a JSON object",
		},
		{
			name:   "400 records not an array",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":{"data":1}}`) },
			status: http.StatusBadRequest,
			errSub: "records must be an array",
		},
		{
			name:   "400 invalid JSON record in NDJSON",
			req:    func() *http.Request { return post("application/x-ndjson", bearerKey, "{\"data\":1}\n{\"data\":\n") },
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 1, Line: 2, Reason: "invalid JSON: unexpected end of JSON input at byte 8"}),
		},
		{
			name:   "400 record not an object",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":[42]}`) },
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonNotObject}),
		},
		{
			name:   "400 missing data",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":[{"id":"a"}]}`) },
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonNoData}),
		},
		{
			name:   "400 null data",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":[{"data":null}]}`) },
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonNoData}),
		},
		{
			name: "400 data and dataBase64",
			req: func() *http.Request {
				return post("application/json", bearerKey, `{"records":[{"data":1,"dataBase64":"AA=="}]}`)
			},
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonBothData}),
		},
		{
			name: "400 invalid base64",
			req: func() *http.Request {
				return post("application/json", bearerKey, `{"records":[{"dataBase64":"A*=="}]}`)
			},
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonBase64}),
		},
		{
			name: "400 invalid id",
			req: func() *http.Request {
				return post("application/json", bearerKey, `{"records":[{"id":"a\u0001b","data":1}]}`)
			},
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonID}),
		},
		{
			name:   "400 empty id",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":[{"id":"","data":1}]}`) },
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonID}),
		},
		{
			name:   "400 id not a string",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":[{"id":7,"data":1}]}`) },
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonIDType}),
		},
		{
			name: "400 invalid partition key",
			req: func() *http.Request {
				return post("application/json", bearerKey, `{"records":[{"partitionKey":"`+strings.Repeat("p", 257)+`","data":1}]}`)
			},
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonPK}),
		},
		{
			name: "400 record over 1 MiB with its envelope",
			req: func() *http.Request {
				return gzipped(post("application/json", bearerKey, ""), `{"records":[{"data":"`+big+`"}]}`, "gzip")
			},
			status: http.StatusBadRequest,
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if len(r.body.Records) != 1 || !strings.HasPrefix(r.body.Records[0].Reason, "record too large") {
					t.Errorf("records %+v, want one record too large", r.body.Records)
				}
			},
		},
		{
			name: "400 binary record over 1 MiB once base64",
			req: func() *http.Request {
				return post("application/octet-stream", bearerKey, strings.Repeat("\xff", 800_000))
			},
			status: http.StatusBadRequest,
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if len(r.body.Records) != 1 || !strings.HasPrefix(r.body.Records[0].Reason, "record too large") {
					t.Errorf("records %+v, want one record too large", r.body.Records)
				}
			},
		},
		{
			name:   "400 more than MAX_RECORDS",
			setup:  setup{cfg: Config{MaxRecords: 3}},
			req:    func() *http.Request { return post("application/json", bearerKey, jsonRecords(4)) },
			status: http.StatusBadRequest,
			errSub: "too many records: 4, the limit is 3",
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if r.body.Count != 4 || r.body.Limit != 3 {
					t.Errorf("count %d limit %d, want 4 and 3", r.body.Count, r.body.Limit)
				}
			},
		},
		{
			name:   "400 more than MAX_RECORDS NDJSON",
			setup:  setup{cfg: Config{MaxRecords: 1}},
			req:    func() *http.Request { return post("application/x-ndjson", bearerKey, "{\"data\":1}\n{\"data\":2}\n") },
			status: http.StatusBadRequest,
			errSub: "too many records: 2, the limit is 1",
		},
		{
			name:   "400 zero records",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"records":[]}`) },
			status: http.StatusBadRequest,
			errSub: "no records",
		},
		{
			name:   "400 no records field",
			req:    func() *http.Request { return post("application/json", bearerKey, `{"record":[{"data":1}]}`) },
			status: http.StatusBadRequest,
			errSub: "no records",
		},
		{
			name:   "400 zero records NDJSON of blank lines",
			req:    func() *http.Request { return post("application/x-ndjson", bearerKey, "\n \r\n\n") },
			status: http.StatusBadRequest,
			errSub: "no records",
		},
		{
			name:   "400 empty binary body",
			req:    func() *http.Request { return post("application/octet-stream", bearerKey, "") },
			status: http.StatusBadRequest,
			check:  wantBad(badRecord{Index: 0, Reason: reasonEmptyBody}),
		},
		{
			name: "400 lists every bad record and writes none",
			req: func() *http.Request {
				return post("application/json", bearerKey, `{"records":[{"data":1},{"id":"x"},{"id":"","data":2},{"data":3},[],{"id":"ok","data":{}}]}`)
			},
			status: http.StatusBadRequest,
			check: func(t *testing.T, r result, k *kinesisFake, sp *spillFake) {
				wantBad(
					badRecord{Index: 1, Reason: reasonNoData},
					badRecord{Index: 2, Reason: reasonID},
					badRecord{Index: 4, Reason: reasonNotObject},
				)(t, r, k, sp)
				if k.calls != 0 || len(sp.objs) != 0 {
					t.Errorf("kinesis calls %d, spill objects %d, want none", k.calls, len(sp.objs))
				}
			},
		},
		{
			name:   "401 missing key",
			req:    func() *http.Request { return post("application/json", "", jsonRecords(1)) },
			status: http.StatusUnauthorized,
			errSub: "missing Authorization header",
			check:  wantHeader("WWW-Authenticate", `Bearer realm="twinstream"`),
		},
		{
			name:   "401 malformed key",
			req:    func() *http.Request { return post("application/json", "Basic "+testKey, jsonRecords(1)) },
			status: http.StatusUnauthorized,
			errSub: "malformed Authorization header",
		},
		{
			name:   "401 empty bearer",
			req:    func() *http.Request { return post("application/json", "Bearer ", jsonRecords(1)) },
			status: http.StatusUnauthorized,
			errSub: "malformed Authorization header",
		},
		{
			name:   "401 unknown key",
			req:    func() *http.Request { return post("application/json", "Bearer "+testKey+"x", jsonRecords(1)) },
			status: http.StatusUnauthorized,
			errSub: "unknown API key",
		},
		{
			name:   "200 health check needs no key",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, HealthPath, nil) },
			status: http.StatusOK,
			check: func(t *testing.T, r result, k *kinesisFake, sp *spillFake) {
				if len(k.entries) != 0 || len(sp.objs) != 0 {
					t.Errorf("health check wrote %d records and %d objects, want none", len(k.entries), len(sp.objs))
				}
			},
		},
		{
			name:   "404 health path with POST",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodPost, HealthPath, nil) },
			status: http.StatusNotFound,
			errSub: "not found",
		},
		{
			name: "404 unknown path",
			req: func() *http.Request {
				return httptest.NewRequest(http.MethodPost, "/v1/record", strings.NewReader(jsonRecords(1)))
			},
			status: http.StatusNotFound,
			errSub: "not found",
		},
		{
			name:   "405 wrong method",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, Path, nil) },
			status: http.StatusMethodNotAllowed,
			errSub: "method GET not allowed",
			check:  wantHeader("Allow", "POST"),
		},
		{
			name:   "413 body over 1 MB",
			req:    func() *http.Request { return post("application/x-ndjson", bearerKey, strings.Repeat(" ", 1_000_001)) },
			status: http.StatusRequestEntityTooLarge,
			errSub: "body too large",
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if r.body.Limit != 1_000_000 {
					t.Errorf("limit %d, want 1000000 (the ALB's 1 MB)", r.body.Limit)
				}
			},
		},
		{
			name: "202 body of 1 MB",
			req: func() *http.Request {
				b := `{"data":1}` + "\n"
				return post("application/x-ndjson", bearerKey, b+strings.Repeat("\n", 1_000_000-len(b)))
			},
			status: http.StatusAccepted,
		},
		{
			name:   "202 gzip JSON",
			req:    func() *http.Request { return gzipped(post(TypeJSON, bearerKey, ""), jsonRecords(3), "gzip") },
			status: http.StatusAccepted,
			check: func(t *testing.T, r result, k *kinesisFake, _ *spillFake) {
				wantCounts(t, r, 3, 0)
				if e := decodeEntries(t, k.entries); string(e[2].Data) != `{"n":2}` {
					t.Errorf("record 2 data %s, want {\"n\":2}", e[2].Data)
				}
			},
		},
		{
			name: "202 gzip NDJSON, x-gzip",
			req: func() *http.Request {
				return gzipped(post(TypeNDJSON, bearerKey, ""), "{\"data\":1}\n{\"data\":2}\n", "X-Gzip")
			},
			status: http.StatusAccepted,
			check:  func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) { wantCounts(t, r, 2, 0) },
		},
		{
			name:   "202 gzip binary is the decompressed bytes",
			req:    func() *http.Request { return gzipped(post(TypeBinary, bearerKey, ""), "\x00\x01raw", "identity, gzip") },
			status: http.StatusAccepted,
			check: func(t *testing.T, r result, k *kinesisFake, _ *spillFake) {
				e := decodeEntries(t, k.entries)
				if p, _ := e[0].Payload(); string(p) != "\x00\x01raw" {
					t.Errorf("payload %q, want the decompressed bytes", p)
				}
			},
		},
		{
			name: "202 gzip of two members",
			req: func() *http.Request {
				r := post(TypeNDJSON, bearerKey, string(gzipBytes("{\"data\":1}\n"))+string(gzipBytes("{\"data\":2}\n")))
				r.Header.Set("Content-Encoding", "gzip")
				return r
			},
			status: http.StatusAccepted,
			check:  func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) { wantCounts(t, r, 2, 0) },
		},
		{
			name: "202 identity",
			req: func() *http.Request {
				r := post(TypeJSON, bearerKey, jsonRecords(1))
				r.Header.Set("Content-Encoding", "identity")
				return r
			},
			status: http.StatusAccepted,
		},
		{
			name: "202 gzip decompressed to exactly the cap",
			req: func() *http.Request {
				b := `{"data":1}` + "\n"
				return gzipped(post(TypeNDJSON, bearerKey, ""), b+strings.Repeat("\n", MaxDecodedBody-len(b)), "gzip")
			},
			status: http.StatusAccepted,
		},
		{
			name: "413 gzip bomb",
			req: func() *http.Request {
				return gzipped(post(TypeNDJSON, bearerKey, ""), strings.Repeat("\n", MaxDecodedBody+1), "gzip")
			},
			status: http.StatusRequestEntityTooLarge,
			errSub: "decompressed body too large",
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if r.body.Limit != 5<<20 {
					t.Errorf("limit %d, want %d", r.body.Limit, 5<<20)
				}
			},
		},
		{
			name:   "400 gzip header on a plain body",
			req:    func() *http.Request { return gzipped(post(TypeJSON, bearerKey, jsonRecords(1)), "", "") },
			status: http.StatusBadRequest,
			errSub: "invalid gzip body",
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if r.body.Detail == "" {
					t.Error("no detail, want the gzip error")
				}
			},
		},
		{
			name: "400 truncated gzip",
			req: func() *http.Request {
				z := gzipBytes(jsonRecords(50))
				r := post(TypeJSON, bearerKey, string(z[:len(z)-9]))
				r.Header.Set("Content-Encoding", "gzip")
				return r
			},
			status: http.StatusBadRequest,
			errSub: "invalid gzip body",
		},
		{
			name: "400 gzip checksum mismatch",
			req: func() *http.Request {
				z := gzipBytes(jsonRecords(5))
				z[len(z)-8] ^= 0xff
				r := post(TypeJSON, bearerKey, string(z))
				r.Header.Set("Content-Encoding", "gzip")
				return r
			},
			status: http.StatusBadRequest,
			errSub: "invalid gzip body",
		},
		{
			name: "400 gzip then garbage",
			req: func() *http.Request {
				r := post(TypeJSON, bearerKey, string(gzipBytes(jsonRecords(1)))+"garbage")
				r.Header.Set("Content-Encoding", "gzip")
				return r
			},
			status: http.StatusBadRequest,
			errSub: "invalid gzip body",
		},
		{
			name: "400 empty gzip body",
			req: func() *http.Request {
				r := post(TypeJSON, bearerKey, "")
				r.Header.Set("Content-Encoding", "gzip")
				return r
			},
			status: http.StatusBadRequest,
			errSub: "invalid gzip body",
		},
		{
			name: "415 br",
			req: func() *http.Request {
				r := post(TypeJSON, bearerKey, jsonRecords(1))
				r.Header.Set("Content-Encoding", "br")
				return r
			},
			status: http.StatusUnsupportedMediaType,
			errSub: "unsupported content encoding",
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				var b struct {
					ContentEncoding string   `json:"contentEncoding"`
					Supported       []string `json:"supported"`
				}
				if err := json.Unmarshal([]byte(r.raw), &b); err != nil || b.ContentEncoding != "br" || !slices.Equal(b.Supported, []string{"gzip", "identity"}) {
					t.Errorf("answer %s, want contentEncoding br and supported [gzip identity]", r.raw)
				}
			},
		},
		{
			name:   "415 gzip twice",
			req:    func() *http.Request { return gzipped(post(TypeJSON, bearerKey, ""), jsonRecords(1), "gzip, gzip") },
			status: http.StatusUnsupportedMediaType,
			errSub: "unsupported content encoding",
		},
		{
			name: "415 deflate",
			req: func() *http.Request {
				r := post(TypeJSON, bearerKey, jsonRecords(1))
				r.Header.Add("Content-Encoding", "identity")
				r.Header.Add("Content-Encoding", "deflate")
				return r
			},
			status: http.StatusUnsupportedMediaType,
			errSub: "unsupported content encoding",
		},
		{
			name: "413 body over 1 MiB without Content-Length",
			req: func() *http.Request {
				r := post("application/x-ndjson", bearerKey, "")
				r.Body = io.NopCloser(io.MultiReader(strings.NewReader(jsonRecords(1)+"\n"), strings.NewReader(strings.Repeat("\n", MaxBody))))
				r.ContentLength = -1
				return r
			},
			status: http.StatusRequestEntityTooLarge,
			errSub: "body too large",
		},
		{
			name:   "415 text/plain",
			req:    func() *http.Request { return post("text/plain", bearerKey, jsonRecords(1)) },
			status: http.StatusUnsupportedMediaType,
			errSub: "unsupported content type",
		},
		{
			name:   "415 no content type",
			req:    func() *http.Request { return post("", bearerKey, jsonRecords(1)) },
			status: http.StatusUnsupportedMediaType,
			errSub: "unsupported content type",
		},
		{
			name:  "503 spill also fails",
			setup: setup{fail: func(i int) bool { return i != 1 }, s3Err: errors.New("s3 down")},
			req: func() *http.Request {
				return post("application/json", bearerKey, `{"records":[{"id":"a","data":1},{"id":"b","data":2},{"id":"c","data":3}]}`)
			},
			status: http.StatusServiceUnavailable,
			errSub: "did not take the records",
			check: func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
				if !slices.Equal(r.body.Stored, []string{"b"}) || !slices.Equal(r.body.Failed, []int{0, 2}) || !slices.Equal(r.body.FailedIDs, []string{"a", "c"}) {
					t.Errorf("stored %v failed %v failedIds %v, want [b], [0 2], [a c]", r.body.Stored, r.body.Failed, r.body.FailedIDs)
				}
				if r.body.Accepted != nil || r.body.IDs != nil {
					t.Errorf("answer %s acknowledges records, want only stored/failed", r.raw)
				}
			},
		},
		{
			name: "503 no secret",
			setup: setup{secrets: GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
				return nil, errors.New("secrets manager down")
			})},
			req:    func() *http.Request { return post("application/json", bearerKey, jsonRecords(1)) },
			status: http.StatusServiceUnavailable,
			errSub: "cannot check API keys",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.setup.cfg.MaxRecords != 0 {
				cfg.MaxRecords = tt.setup.cfg.MaxRecords
			}
			k := &kinesisFake{fail: tt.setup.fail}
			sp := &spillFake{err: tt.setup.s3Err}
			h := newHandler(t, cfg, k, sp, tt.setup.secrets, nil)
			r := serve(t, h, tt.req())
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.status >= 400 && r.body.Error == "" {
				t.Errorf("answer %s has no error field", r.raw)
			}
			if !strings.Contains(r.body.Error, tt.errSub) {
				t.Errorf("error %q, want it to contain %q", r.body.Error, tt.errSub)
			}
			if tt.status != http.StatusAccepted && tt.status != http.StatusServiceUnavailable && k.calls != 0 {
				t.Errorf("kinesis called %d times for a %d answer, want 0", k.calls, tt.status)
			}
			if tt.check != nil {
				tt.check(t, r, k, sp)
			}
		})
	}
}

// gzipBytes compresses s as one gzip member.
func gzipBytes(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return buf.Bytes()
}

// gzipped sets r's body to s, gzipped, and its Content-Encoding to coding.
// With s empty it keeps r's body and only sets the header.
func gzipped(r *http.Request, s, coding string) *http.Request {
	if s != "" {
		z := gzipBytes(s)
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(z)), int64(len(z))
	}
	r.Header.Set("Content-Encoding", cmp.Or(coding, "gzip"))
	return r
}

func wantCounts(t *testing.T, r result, accepted, spilled int) {
	t.Helper()
	if r.body.Accepted == nil || *r.body.Accepted != accepted || r.body.Spilled == nil || *r.body.Spilled != spilled {
		t.Errorf("answer %s, want accepted %d spilled %d", r.raw, accepted, spilled)
	}
	if len(r.body.IDs) != accepted {
		t.Errorf("%d ids, want %d", len(r.body.IDs), accepted)
	}
}

func wantBad(want ...badRecord) func(*testing.T, result, *kinesisFake, *spillFake) {
	return func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
		t.Helper()
		if r.body.Error != "invalid records" {
			t.Errorf("error %q, want invalid records", r.body.Error)
		}
		if !reflect.DeepEqual(r.body.Records, want) {
			t.Errorf("records %+v, want %+v", r.body.Records, want)
		}
	}
}

func wantHeader(name, value string) func(*testing.T, result, *kinesisFake, *spillFake) {
	return func(t *testing.T, r result, _ *kinesisFake, _ *spillFake) {
		t.Helper()
		if got := r.header.Get(name); got != value {
			t.Errorf("%s %q, want %q", name, got, value)
		}
	}
}

// spilledEnvelopes decodes every spill object.
func spilledEnvelopes(t *testing.T, sp *spillFake) []record.Envelope {
	t.Helper()
	var out []record.Envelope
	for key, b := range sp.objs {
		if ct := sp.ct[key]; ct != "application/x-ndjson" {
			t.Errorf("spill object %s Content-Type %q, want application/x-ndjson", key, ct)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			e, err := record.Decode(line)
			if err != nil {
				t.Fatalf("spill object %s: %v", key, err)
			}
			out = append(out, e)
		}
	}
	return out
}

func spilledIDs(t *testing.T, sp *spillFake) []string {
	t.Helper()
	if len(sp.objs) != 1 {
		t.Fatalf("%d spill objects, want 1", len(sp.objs))
	}
	var ids []string
	for _, e := range spilledEnvelopes(t, sp) {
		ids = append(ids, e.ID)
	}
	return ids
}

func decodeEntries(t *testing.T, entries []stream.Entry) []record.Envelope {
	t.Helper()
	out := make([]record.Envelope, len(entries))
	for i, e := range entries {
		env, err := record.Decode(e.Data)
		if err != nil {
			t.Fatalf("entry %d: %v: %s", i, err, e.Data)
		}
		if env.PartitionKey != e.PartitionKey {
			t.Errorf("entry %d partition key %q, envelope says %q", i, e.PartitionKey, env.PartitionKey)
		}
		out[i] = env
	}
	return out
}

// TestEnvelopes checks what each body format becomes: producer ids and
// partition keys kept, JSON kept as compact JSON, binary as base64.
func TestEnvelopes(t *testing.T) {
	at := t0.Truncate(time.Millisecond)
	tests := []struct {
		name string
		req  func() *http.Request
		want []record.Envelope // ID "" means generated
	}{
		{
			name: "JSON with producer ids and keys",
			req: func() *http.Request {
				return post("application/json; charset=utf-8", bearerKey, `{"records":[
					{"id":"order-1","partitionKey":"cust-9","data":{ "a" : [1, 2, {"b": "c d"}] }},
					{"data":"text"},
					{"id":"bin-1","dataBase64":"AAEC/w=="}
				], "extra": true}`)
			},
			want: []record.Envelope{
				{ID: "order-1", PartitionKey: "cust-9", Encoding: "json", Data: json.RawMessage(`{"a":[1,2,{"b":"c d"}]}`)},
				{Encoding: "json", Data: json.RawMessage(`"text"`)},
				{ID: "bin-1", PartitionKey: "bin-1", Encoding: "base64", Data: json.RawMessage(`"AAEC/w=="`)},
			},
		},
		{
			name: "NDJSON with blank lines and CRLF",
			req: func() *http.Request {
				return post("application/x-ndjson", bearerKey, "{\"id\":\"e1\",\"data\":1}\r\n\r\n  \n{\"id\":\"e2\",\"partitionKey\":\"k\",\"data\":[true, null]}")
			},
			want: []record.Envelope{
				{ID: "e1", PartitionKey: "e1", Encoding: "json", Data: json.RawMessage(`1`)},
				{ID: "e2", PartitionKey: "k", Encoding: "json", Data: json.RawMessage(`[true,null]`)},
			},
		},
		{
			name: "octet-stream with id and key headers",
			req: func() *http.Request {
				r := post("application/octet-stream", bearerKey, "\x00\x01binary\xff")
				r.Header.Set("X-Record-Id", "blob-1")
				r.Header.Set("X-Partition-Key", "dev-3")
				return r
			},
			want: []record.Envelope{
				{ID: "blob-1", PartitionKey: "dev-3", Encoding: "base64", Data: json.RawMessage(`"` + base64.StdEncoding.EncodeToString([]byte("\x00\x01binary\xff")) + `"`)},
			},
		},
		{
			name: "octet-stream without headers",
			req:  func() *http.Request { return post("application/octet-stream", bearerKey, "abc") },
			want: []record.Envelope{{Encoding: "base64", Data: json.RawMessage(`"YWJj"`)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &kinesisFake{}
			h := newHandler(t, testConfig(), k, &spillFake{}, nil, nil)
			r := serve(t, h, tt.req())
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d, want 202: %s", r.status, r.raw)
			}
			got := decodeEntries(t, k.entries)
			if len(got) != len(tt.want) {
				t.Fatalf("%d envelopes, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if w.ID == "" {
					if len(g.ID) != 26 {
						t.Errorf("record %d id %q, want a generated ULID", i, g.ID)
					}
					w.ID = g.ID
				}
				if w.PartitionKey == "" {
					w.PartitionKey = w.ID
				}
				w.Producer, w.Region, w.ReceivedAt = "team-test", "us-east-1", at
				if !reflect.DeepEqual(g, w) {
					t.Errorf("record %d\n got %+v\nwant %+v", i, g, w)
				}
				if r.body.IDs[i] != g.ID {
					t.Errorf("answer id %d %q, want %q (request order)", i, r.body.IDs[i], g.ID)
				}
			}
		})
	}
}

// TestSpillObject checks the spill object's key and that its content decodes
// back to the envelopes that Kinesis would have got.
func TestSpillObject(t *testing.T) {
	body := `{"records":[{"id":"a","data":{"x":1}},{"data":[1,2]},{"id":"c","partitionKey":"pk","dataBase64":"AAE="}]}`
	ok := &kinesisFake{}
	serve(t, newHandler(t, testConfig(), ok, &spillFake{}, nil, nil), post("application/json", bearerKey, body))
	want := decodeEntries(t, ok.entries)

	sp := &spillFake{}
	cfg := testConfig()
	cfg.SpillPrefix = "custom/"
	h := newHandler(t, cfg, &kinesisFake{fail: failAll}, sp, nil, nil)
	r := serve(t, h, post("application/json", bearerKey, body))
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.status, r.raw)
	}
	if len(sp.objs) != 1 {
		t.Fatalf("%d spill objects, want 1", len(sp.objs))
	}
	for key, b := range sp.objs {
		id := strings.TrimSuffix(key[strings.LastIndexByte(key, '/')+1:], ".ndjson")
		if want := SpillKey("custom", "us-east-1", t0, id); key != want || len(id) != 26 {
			t.Errorf("spill key %q, want %q with a ULID", key, want)
		}
		if !bytes.HasSuffix(b, []byte("}\n")) || bytes.Count(b, []byte("\n")) != 3 {
			t.Errorf("spill body %q, want 3 NDJSON lines", b)
		}
	}
	got := spilledEnvelopes(t, sp)
	want[1].ID, want[1].PartitionKey = got[1].ID, got[1].ID // generated anew
	for i, e := range got {
		if e.Producer != "team-test" {
			t.Errorf("spilled record %d producer %q, want team-test (the key's id)", i, e.Producer)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spilled\n got %+v\nwant %+v", got, want)
	}
}

// TestPartialPutRecordsRetried runs the real stream.Writer: records that
// fail inside a successful PutRecords call are retried and the answer says
// nothing was spilled.
func TestPartialPutRecordsRetried(t *testing.T) {
	var mu sync.Mutex
	var calls [][]string
	var written []string
	api := stream.PutRecordsFunc(func(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("PutRecords without a deadline")
		}
		var keys []string
		out := &kinesis.PutRecordsOutput{}
		failed := int32(0)
		for i, r := range in.Records {
			keys = append(keys, aws.ToString(r.PartitionKey))
			if len(calls) == 0 && i%2 == 1 {
				failed++
				out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("slow down")})
				continue
			}
			written = append(written, aws.ToString(r.PartitionKey))
			out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(len(written))), ShardId: aws.String("shardId-000000000000")})
		}
		out.FailedRecordCount = aws.Int32(failed)
		calls = append(calls, keys)
		return out, nil
	})
	w := &stream.Writer{Client: api, StreamName: "s", Sleep: func(context.Context, time.Duration) error { return nil }}
	sp := &spillFake{}
	h := newHandler(t, testConfig(), w, sp, nil, nil)
	r := serve(t, h, post("application/x-ndjson", bearerKey, "{\"id\":\"r0\",\"data\":0}\n{\"id\":\"r1\",\"data\":1}\n{\"id\":\"r2\",\"data\":2}\n{\"id\":\"r3\",\"data\":3}\n"))
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.status, r.raw)
	}
	wantCounts(t, r, 4, 0)
	want := [][]string{{"r0", "r1", "r2", "r3"}, {"r1", "r3"}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("PutRecords calls %v, want %v", calls, want)
	}
	if len(written) != 4 || len(sp.objs) != 0 {
		t.Errorf("written %v, spill objects %d, want 4 and 0", written, len(sp.objs))
	}
}

// TestKinesisHangs: with a Kinesis that never answers, the handler gives up
// within its budget (leaving the spill timeout free before the request's
// deadline) and answers 202 through the spill bucket.
func TestKinesisHangs(t *testing.T) {
	cfg := testConfig()
	cfg.SpillTimeout = 200 * time.Millisecond
	cfg.Margin = 50 * time.Millisecond
	hang := stream.PutRecordsFunc(func(ctx context.Context, _ *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	tests := []struct {
		name string
		put  func(seen chan<- time.Time) Putter
	}{
		{"fake putter", func(seen chan<- time.Time) Putter {
			return PutFunc(func(ctx context.Context, entries []stream.Entry) stream.Result {
				dl, _ := ctx.Deadline()
				seen <- dl
				<-ctx.Done()
				failed := make([]int, len(entries))
				for i := range failed {
					failed[i] = i
				}
				return stream.Result{Failed: failed, Calls: 1, Err: ctx.Err()}
			})
		}},
		{"stream writer", func(seen chan<- time.Time) Putter {
			return &stream.Writer{Client: stream.PutRecordsFunc(func(ctx context.Context, in *kinesis.PutRecordsInput, o ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
				dl, _ := ctx.Deadline()
				select {
				case seen <- dl:
				default:
				}
				return hang(ctx, in, o...)
			}), StreamName: "s", CallTimeout: 50 * time.Millisecond, BaseBackoff: time.Millisecond}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan time.Time, 1)
			sp := &spillFake{}
			h := newHandler(t, cfg, tt.put(seen), sp, nil, nil)
			deadline := time.Now().Add(600 * time.Millisecond)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			r := serve(t, h, post("application/json", bearerKey, jsonRecords(5)).WithContext(ctx))
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d, want 202: %s", r.status, r.raw)
			}
			wantCounts(t, r, 5, 5)
			got := <-seen
			if limit := deadline.Add(-cfg.SpillTimeout); got.After(limit) {
				t.Errorf("kinesis deadline %v, want before %v (request deadline less the spill timeout)", got, limit)
			}
			if ctx.Err() != nil {
				t.Errorf("answered after the request's deadline")
			}
		})
	}
}

// TestNoTimeForKinesis: when the request's deadline leaves no Kinesis
// budget, records go straight to the spill bucket.
func TestNoTimeForKinesis(t *testing.T) {
	k := &kinesisFake{}
	sp := &spillFake{}
	h := newHandler(t, testConfig(), k, sp, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // < SpillTimeout 4s
	defer cancel()
	r := serve(t, h, post("application/json", bearerKey, jsonRecords(2)).WithContext(ctx))
	if r.status != http.StatusAccepted || k.calls != 0 {
		t.Fatalf("status %d kinesis calls %d, want 202 and 0: %s", r.status, k.calls, r.raw)
	}
	wantCounts(t, r, 2, 2)
}

// TestKeyCache checks the TTL with a fake clock, key rotation, and that a
// stale key set is used while Secrets Manager fails.
func TestKeyCache(t *testing.T) {
	var calls atomic.Int32
	var down atomic.Bool
	doc := `{"keys":[{"id":"team-test","sha256":"9cf4af11f624260a01f669e67954f77394911a51dd32fa3e522b5bace0f8eddc"}]}`
	var mu sync.Mutex
	sec := GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
		calls.Add(1)
		if down.Load() {
			return nil, errors.New("secrets manager down")
		}
		mu.Lock()
		defer mu.Unlock()
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(doc)}, nil
	})
	c := &clock{t: t0}
	h := newHandler(t, testConfig(), &kinesisFake{}, &spillFake{}, sec, c.Now)
	other := "Bearer ts-other-key-abcdef"

	steps := []struct {
		name      string
		advance   time.Duration
		down      bool
		rotate    bool // switch the secret to team-other only
		auth      string
		status    int
		wantCalls int32
	}{
		{"first request fetches", 0, false, false, bearerKey, 202, 1},
		{"cached within TTL", 4 * time.Minute, false, true, bearerKey, 202, 1},
		{"rotated key unknown until TTL", 0, false, false, other, 401, 1},
		{"refetched after TTL", 61 * time.Second, false, false, other, 202, 2},
		{"old key now unknown", 0, false, false, bearerKey, 401, 2},
		{"stale copy used when refresh fails", 5 * time.Minute, true, false, other, 202, 3},
		{"no refetch right after a failure", 10 * time.Second, true, false, other, 202, 3},
		{"retried after the stale retry interval", 21 * time.Second, true, false, other, 202, 4},
		{"fresh again when the secret is back", 31 * time.Second, false, false, other, 202, 5},
	}
	for _, s := range steps {
		c.Add(s.advance)
		down.Store(s.down)
		if s.rotate {
			mu.Lock()
			doc = `{"keys":[{"id":"team-other","sha256":"f647b91cb78f89d48dc426a8c26f1e76af7365a259c872fb98562a2bb01f0bf9"}]}`
			mu.Unlock()
		}
		r := serve(t, h, post("application/json", s.auth, jsonRecords(1)))
		if r.status != s.status {
			t.Errorf("%s: status %d, want %d: %s", s.name, r.status, s.status, r.raw)
		}
		if got := calls.Load(); got != s.wantCalls {
			t.Errorf("%s: %d secret fetches, want %d", s.name, got, s.wantCalls)
		}
	}
}

// TestKeysConcurrent: concurrent requests share one fetch.
func TestKeysConcurrent(t *testing.T) {
	var calls atomic.Int32
	h := newHandler(t, testConfig(), &kinesisFake{}, &spillFake{}, secretFile(t, &calls), nil)
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Go(func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, post("application/json", bearerKey, jsonRecords(2)))
			codes[i] = w.Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusAccepted {
			t.Errorf("request %d: status %d, want 202", i, c)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("%d secret fetches, want 1", got)
	}
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // ids; nil with errSub set
		errSub    string
	}{
		{"two keys", string(readFile(t, "testdata/api-keys-secret.json")), []string{"team-test", "team-other"}, ""},
		{"empty list", `{"keys":[]}`, []string{}, ""},
		{"uppercase hex", `{"keys":[{"id":"a","sha256":"9CF4AF11F624260A01F669E67954F77394911A51DD32FA3E522B5BACE0F8EDDC"}]}`, []string{"a"}, ""},
		{"not JSON", `keys`, nil, "not JSON"},
		{"no keys", `{"key":[]}`, nil, `no "keys" array`},
		{"short hash", `{"keys":[{"id":"a","sha256":"abcd"}]}`, nil, "64 hex"},
		{"not hex", `{"keys":[{"id":"a","sha256":"` + strings.Repeat("g", 64) + `"}]}`, nil, "64 hex"},
		{"no id", `{"keys":[{"sha256":"` + strings.Repeat("a", 64) + `"}]}`, nil, "id must be"},
		{"one id, two hashes (rotation)", `{"keys":[{"id":"a","sha256":"` + strings.Repeat("a", 64) + `"},{"id":"a","sha256":"` + strings.Repeat("b", 64) + `"}]}`, []string{"a", "a"}, ""},
		{"one hash, two ids", `{"keys":[{"id":"a","sha256":"` + strings.Repeat("a", 64) + `"},{"id":"b","sha256":"` + strings.Repeat("A", 64) + `"}]}`, nil, "key 1 (b) has the sha256 of key 0 (a)"},
		{"one hash listed twice for one id", `{"keys":[{"id":"a","sha256":"` + strings.Repeat("a", 64) + `"},{"id":"a","sha256":"` + strings.Repeat("a", 64) + `"}]}`, []string{"a", "a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parseKeys([]byte(tt.doc))
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("error %v, want one containing %q", err, tt.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, k := range keys {
				ids = append(ids, k.id)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ids %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		header, key string
		ok          bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"Bearer  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearer a b", "", false},
		{"Bearerabc", "", false},
	}
	for _, tt := range tests {
		key, ok := bearer(tt.header)
		if key != tt.key || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v, want %q, %v", tt.header, key, ok, tt.key, tt.ok)
		}
	}
}

func TestMatchChecksAllKeys(t *testing.T) {
	h := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	keys := []apiKey{{"a", h("ka")}, {"b", h("kb")}, {"c", h("kc")}}
	for _, tt := range []struct{ key, id string }{{"ka", "a"}, {"kb", "b"}, {"kc", "c"}, {"kd", ""}} {
		id, ok := match(keys, tt.key)
		if id != tt.id || ok != (tt.id != "") {
			t.Errorf("match(%q) = %q, %v, want %q", tt.key, id, ok, tt.id)
		}
	}
}

// TestLogs: one line per request with the key's id, never the key.
func TestLogs(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer slog.SetDefault(prev)
	h := newHandler(t, testConfig(), &kinesisFake{fail: func(i int) bool { return i == 0 }}, &spillFake{}, nil, nil)
	serve(t, h, post("application/json", bearerKey, jsonRecords(3)))
	serve(t, h, post("application/json", "Bearer wrong-key-123", jsonRecords(1)))

	out := buf.String()
	if strings.Contains(out, testKey) || strings.Contains(out, "wrong-key-123") {
		t.Errorf("log contains an API key: %s", out)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "ingest" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d request log lines, want 2: %s", len(lines), out)
	}
	want := map[string]any{"status": 202.0, "key": "team-test", "records": 3.0, "accepted": 3.0, "spilled": 1.0, "kinesisCalls": 1.0}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("log %s = %v, want %v", k, lines[0][k], v)
		}
	}
	if lines[1]["status"] != 401.0 || lines[1]["error"] != "unknown API key" {
		t.Errorf("log %v, want status 401 and error unknown API key", lines[1])
	}
}

// TestPanicAnswers500: the last-resort recover answers 500 when a
// dependency panics.
func TestPanicAnswers500(t *testing.T) {
	k := PutFunc(func(context.Context, []stream.Entry) stream.Result { panic("boom") })
	h := newHandler(t, testConfig(), k, &spillFake{}, nil, nil)
	r := serve(t, h, post("application/json", bearerKey, jsonRecords(1)))
	if r.status != http.StatusInternalServerError || r.body.Error != "internal error" {
		t.Errorf("status %d body %s, want 500 internal error", r.status, r.raw)
	}
}

func TestNew(t *testing.T) {
	deps := Deps{Kinesis: &kinesisFake{}, S3: &spillFake{}, Secrets: secretFile(t, nil)}
	tests := []struct {
		name   string
		cfg    Config
		deps   Deps
		errSub string
	}{
		{"ok", testConfig(), deps, ""},
		{"missing fields", Config{}, Deps{}, "missing Region, SpillBucket, KeysSecretARN, Deps.Kinesis, Deps.S3, Deps.Secrets"},
		{"max records too high", Config{Region: "r", SpillBucket: "b", KeysSecretARN: "a", MaxRecords: MaxMaxRecords + 1}, deps, "MaxRecords"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.cfg, tt.deps)
			if tt.errSub == "" {
				if err != nil || h == nil {
					t.Fatalf("New: %v", err)
				}
				if h.cfg.SpillPrefix != "spill" || h.cfg.MaxRecords != DefaultMaxRecords || h.cfg.KeysTTL != DefaultKeysTTL {
					t.Errorf("defaults %+v, want spill/500/5m", h.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("error %v, want one containing %q", err, tt.errSub)
			}
		})
	}
}
