package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twinstream/twinstream/lambdas/albhttp"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// albResult is one answer as the ALB gets it.
type albResult struct {
	status int
	body   string
	// size is the largest response JSON: as aws-lambda-go writes it (no
	// HTML escaping, its default) or as json.Marshal would (HTML escaped),
	// with single- or multi-value headers.
	size int
}

// albServe sends body through albhttp.Handler, as Lambda would for the
// ALB, and measures the response JSON the function returns. Bodies are
// gzipped when gz is set (large requests).
func albServe(t testing.TB, h http.Handler, ct string, body []byte, gz bool) albResult {
	t.Helper()
	ev := events.ALBTargetGroupRequest{
		HTTPMethod: http.MethodPost, Path: Path,
		Headers: map[string]string{"content-type": ct, "authorization": bearerKey, "x-forwarded-for": "203.0.113.7"},
	}
	if gz {
		body = gzipBytes(string(body))
		ev.Headers["content-encoding"] = "gzip"
	}
	if len(body) > MaxBody {
		t.Fatalf("request body of %d bytes: over MaxBody, the ALB would not pass it", len(body))
	}
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	resp, err := albhttp.Handler(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.IsBase64Encoded {
		t.Fatalf("answer %.100q sent as base64, want JSON text", resp.Body)
	}
	// The same answer for a target group with multi-value headers on.
	hdr := http.Header{}
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	multi := albhttp.Response(events.ALBTargetGroupRequest{MultiValueHeaders: map[string][]string{"accept": {"*/*"}}},
		resp.StatusCode, hdr, []byte(resp.Body))
	size := 0
	for _, r := range []events.ALBTargetGroupResponse{resp, multi} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		html, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		size = max(size, buf.Len(), len(html))
	}
	return albResult{status: resp.StatusCode, body: resp.Body, size: size}
}

// Classes of producer ids that cost the most in the answer.
var idClasses = []struct {
	name string
	a, b string // two symbols: ids spell their number in binary with them
}{
	{"quotes and backslashes", `"`, `\`}, // \\\" and \\\\ in the response JSON: 4 bytes each
	{"HTML characters", "<", ">"},        // \u003c if the runtime escaped HTML: 6 bytes
	{"line separators", "\u2028", "\u2029"},
}

// worstIDs returns n distinct ids of record.MaxIDLen bytes made of a and b.
func worstIDs(n int, a, b string) []string {
	ids := make([]string, n)
	for i := range ids {
		var sb strings.Builder
		for k := 0; sb.Len()+len(a) <= record.MaxIDLen; k++ {
			if i>>k&1 == 1 {
				sb.WriteString(b)
			} else {
				sb.WriteString(a)
			}
		}
		for sb.Len() < record.MaxIDLen {
			sb.WriteByte('~')
		}
		ids[i] = sb.String()
	}
	return ids
}

func recordsWithIDs(ids []string) []byte {
	type rec struct {
		ID   string `json:"id"`
		Data int    `json:"data"`
	}
	recs := make([]rec, len(ids))
	for i, id := range ids {
		recs[i] = rec{id, i}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as a producer would, to stay under the body limits
	_ = enc.Encode(map[string]any{"records": recs})
	return buf.Bytes()
}

func idEnvelopes(ids []string) []record.Envelope {
	envs := make([]record.Envelope, len(ids))
	for i, id := range ids {
		envs[i].ID = id
	}
	return envs
}

// largestFitting is the most records with these ids whose answer fits
// (answerSize grows with the records: a binary search).
func largestFitting(ids []string) int {
	envs := idEnvelopes(ids)
	return sort.Search(len(envs)+1, func(n int) bool { return answerSize(envs[:n]) > MaxResponse }) - 1
}

// TestAnswersFit: every answer to a request the handler lets through stays
// within the ALB's response limit, for every MAX_RECORDS, with the
// costliest producer ids: 202 and 503 answers list every id, so a request
// whose ids could not fit is refused (400 naming the limit) before
// anything is written; a 400 listing bad records fits at MaxMaxRecords.
func TestAnswersFit(t *testing.T) {
	down := PutFunc(func(_ context.Context, entries []stream.Entry) stream.Result {
		res := stream.Result{Calls: 1, Faults: 1, Err: errors.New("kinesis down")}
		for i := range entries {
			res.Failed = append(res.Failed, i)
		}
		return res
	})
	for _, class := range idClasses {
		all := worstIDs(MaxMaxRecords+1, class.a, class.b)
		fit := largestFitting(all)
		t.Logf("%s: at most %d records of %d-byte ids per request", class.name, fit, record.MaxIDLen)
		sizes := []int{1, 2, 100, DefaultMaxRecords, fit, fit + 1, 1000, MaxMaxRecords}
		for _, n := range sizes {
			if n > MaxMaxRecords {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", class.name, n), func(t *testing.T) {
				cfg := testConfig()
				cfg.MaxRecords = n
				body := recordsWithIDs(all[:n])
				k := &kinesisFake{}
				if n > fit {
					r := albServe(t, newHandler(t, cfg, k, &spillFake{}, nil, nil), TypeJSON, body, true)
					var b struct {
						Error string
						Limit int
					}
					_ = json.Unmarshal([]byte(r.body), &b)
					if r.status != http.StatusBadRequest || b.Limit != MaxResponse || !strings.Contains(b.Error, "over the load balancer's limit") || k.calls != 0 {
						t.Fatalf("%d records: got %d %.300s (kinesis calls %d), want 400 naming the limit and nothing written", n, r.status, r.body, k.calls)
					}
					return
				}
				bound := answerSize(idEnvelopes(all[:n]))
				for _, tc := range []struct {
					name   string
					put    Putter
					spill  error
					status int
				}{
					{"202", k, nil, http.StatusAccepted},
					{"503 all failed", down, errors.New("s3 down"), http.StatusServiceUnavailable},
				} {
					r := albServe(t, newHandler(t, cfg, tc.put, &spillFake{err: tc.spill}, nil, nil), TypeJSON, body, n > 100)
					if r.status != tc.status {
						t.Fatalf("%s: status %d, want %d: %.300s", tc.name, r.status, tc.status, r.body)
					}
					if r.size > MaxResponse || r.size > bound {
						t.Errorf("%s: response JSON of %d bytes, want at most %d (limit) and %d (bound)", tc.name, r.size, MaxResponse, bound)
					}
					if tc.status == http.StatusServiceUnavailable && class.a == `"` && bound-r.size > answerAllowance {
						t.Errorf("%s: response JSON of %d bytes, bound %d: looser than the allowance", tc.name, r.size, bound)
					}
				}
			})
		}
	}
	t.Run("400 listing every record", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRecords = MaxMaxRecords
		// The longest reasons (a syntax error naming an escaped
		// character), on lines numbered in the millions.
		for _, line := range []string{`{\`, `{'`, "{\u0085", `{"id":"a",` + "\t" + `"data":1e}`} {
			var b strings.Builder
			b.WriteString(strings.Repeat("\n", MaxDecodedBody-MaxMaxRecords*(len(line)+1)))
			for range MaxMaxRecords {
				b.WriteString(line + "\n")
			}
			r := albServe(t, newHandler(t, cfg, &kinesisFake{}, &spillFake{}, nil, nil), TypeNDJSON, []byte(b.String()), true)
			var got struct{ Records []badRecord }
			_ = json.Unmarshal([]byte(r.body), &got)
			if r.status != http.StatusBadRequest || len(got.Records) != MaxMaxRecords {
				t.Fatalf("line %q: got %d with %d bad records, want 400 listing %d", line, r.status, len(got.Records), MaxMaxRecords)
			}
			t.Logf("line %q: %d bytes, reason %q", line, r.size, got.Records[0].Reason)
			if r.size > MaxResponse {
				t.Errorf("line %q: response JSON of %d bytes, want at most %d", line, r.size, MaxResponse)
			}
		}
	})
}

// FuzzAnswerSize: for any valid producer ids, the 503 that lists every
// record as failed (the largest answer a request can get once writing
// starts) takes no more response JSON than answerSize says.
func FuzzAnswerSize(f *testing.F) {
	// More seeds: testdata/fuzz/FuzzAnswerSize.
	f.Add("a\x00b\x00order-1")
	f.Add(strings.Join(worstIDs(3, `"`, `\`), "\x00"))
	f.Add(strings.Join(worstIDs(3, "\u2028", "<"), "\x00"))
	down := PutFunc(func(_ context.Context, entries []stream.Entry) stream.Result {
		res := stream.Result{Calls: 1, Faults: 1, Err: errors.New("kinesis down")}
		for i := range entries {
			res.Failed = append(res.Failed, i)
		}
		return res
	})
	f.Fuzz(func(t *testing.T, joined string) {
		// Ids are NUL-separated (NUL is never valid in one); the
		// handler never sees invalid or repeated ones.
		var ids []string
		seen := map[string]bool{}
		for _, id := range strings.Split(joined, "\x00") {
			if len(id) > record.MaxIDLen {
				id = id[:record.MaxIDLen]
			}
			if record.ValidID(id) && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return
		}
		h := newHandler(t, testConfig(), down, &spillFake{err: errors.New("s3 down")}, nil, nil)
		r := albServe(t, h, TypeJSON, recordsWithIDs(ids), false)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503: %.300s", r.status, r.body)
		}
		if bound := answerSize(idEnvelopes(ids)); r.size > bound {
			t.Fatalf("response JSON of %d bytes, answerSize says at most %d", r.size, bound)
		}
	})
}

func TestDigits(t *testing.T) {
	for _, i := range []int{0, 1, 9, 10, 99, 100, 4999, 5000, 99999, 100000} {
		if got, want := digits(i), len(fmt.Sprint(i)); got != want {
			t.Errorf("digits(%d) = %d, want %d", i, got, want)
		}
	}
}

// TestQuotedSize pins quotedSize's count per character class; FuzzAnswerSize
// checks that it bounds the real response JSON.
func TestQuotedSize(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"", 4},
		{"order-1", 4 + 7},
		{`a"b\c`, 4 + 3 + 8},
		{"<&>", 4 + 18},
		{"\n\x1f", 4 + 14},
		{"é€😀", 4 + 2 + 3 + 4},
		{"\u2028\u2029", 4 + 14},
		{"\xff", 4 + 7},
	}
	for _, tt := range tests {
		if got := quotedSize(tt.s); got != tt.want {
			t.Errorf("quotedSize(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}
