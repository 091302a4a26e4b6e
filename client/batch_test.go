package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// items encodes recs as Send does, ids assigned.
func testItems(t testing.TB, c *Client, recs []Record) []item {
	t.Helper()
	items, bad := c.prepare(recs)
	if bad != nil {
		t.Fatalf("prepare: %+v", bad)
	}
	return items
}

// albResponse is the response JSON ingest's function gives the ALB
// (aws-lambda-go's events.ALBTargetGroupResponse, marshalled with HTML
// escaping as encoding/json does by default).
type albResponse struct {
	StatusCode        int                 `json:"statusCode"`
	StatusDescription string              `json:"statusDescription"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// largestAnswer is the size of ingest's largest answer to req as the ALB
// gets it: the 503 listing every record as failed, built as ingest builds
// it (no HTML escaping in the body, which is then a JSON string in the
// response JSON).
func largestAnswer(t testing.TB, req []item) int {
	t.Helper()
	body := struct {
		Error     string   `json:"error"`
		Stored    []string `json:"stored"`
		Failed    []int    `json:"failed"`
		FailedIDs []string `json:"failedIds"`
	}{Error: "kinesis and the spill bucket did not take the records; records listed in failed are not stored: resend them with the ids in failedIds", Stored: []string{}}
	for i := range req {
		body.Failed = append(body.Failed, i)
		body.FailedIDs = append(body.FailedIDs, req[i].id)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		t.Fatal(err)
	}
	resp, err := json.Marshal(albResponse{StatusCode: 503, StatusDescription: "503 Service Unavailable",
		Headers: map[string]string{"Content-Type": "application/json", "Retry-After": "1"}, Body: strings.TrimSuffix(buf.String(), "\n")})
	if err != nil {
		t.Fatal(err)
	}
	return len(resp) + 1
}

// checkSplit checks requests cut from items under lim: in order, every item
// in exactly one request, each request within every limit, and each but
// the last cut only because the next item would not fit.
func checkSplit(t testing.TB, items []item, reqs [][]item, lim limits) {
	t.Helper()
	n := 0
	for k, req := range reqs {
		if len(req) == 0 {
			t.Fatalf("request %d is empty", k)
		}
		for _, it := range req {
			if n >= len(items) || it.idx != items[n].idx || it.id != items[n].id {
				t.Fatalf("request %d: item %d (id %q) out of order, want item %d", k, it.idx, it.id, n)
			}
			n++
		}
		if len(req) > lim.records {
			t.Errorf("request %d: %d records, limit %d", k, len(req), lim.records)
		}
		if body := appendBody(nil, req); len(body) > lim.body {
			t.Errorf("request %d: body %d bytes, limit %d", k, len(body), lim.body)
		} else if !json.Valid(body) {
			t.Errorf("request %d: body not JSON: %.100s", k, body)
		}
		size := answerAllowance
		own := map[string]bool{}
		for i, it := range req {
			size += answerCost(it.id, i)
			if it.own && own[it.id] {
				t.Errorf("request %d repeats id %q", k, it.id)
			}
			own[it.id] = true
		}
		if size > MaxResponse {
			t.Errorf("request %d: ingest's answer bound %d, limit %d", k, size, MaxResponse)
		}
		if real := largestAnswer(t, req); real > MaxResponse {
			t.Errorf("request %d: largest answer %d bytes, limit %d", k, real, MaxResponse)
		}
		if k+1 < len(reqs) {
			b := newBatcher(lim)
			for _, it := range req {
				b.add(it)
			}
			if next := reqs[k+1][0]; b.fits(&next) {
				t.Errorf("request %d cut, but the next item (%d bytes, id %.20q) would have fit", k, len(next.enc), next.id)
			}
		}
	}
	if n != len(items) {
		t.Fatalf("requests hold %d items, want %d", n, len(items))
	}
}

func TestSplit(t *testing.T) {
	c, _ := newTestClient(t, Config{Endpoints: []string{"http://127.0.0.1:1"}})
	quotes := strings.Repeat(`"`, MaxIDLen)
	tests := []struct {
		name  string
		recs  func() []Record
		items func() []item // instead of recs
		lim   limits
		sizes []int // records per request
	}{
		{"records limit", func() []Record { return records(1200) }, nil, limits{500, MaxBody}, []int{500, 500, 200}},
		{"a smaller MAX_RECORDS", func() []Record { return records(7) }, nil, limits{3, MaxBody}, []int{3, 3, 1}},
		{"body limit", func() []Record {
			recs := make([]Record, 7)
			for i := range recs {
				recs[i].Binary = make([]byte, 240_000) // 320,000 bytes of base64
			}
			return recs
		}, nil, limits{500, MaxBody}, []int{3, 3, 1}},
		// The README: "more than 967 ids of 256 '"' characters" could not
		// be answered. (Items made here: as records, such ids would repeat.)
		{"answer limit: ids of 256 quotes, 967 to a request", nil, func() []item {
			items := make([]item, 2000)
			for i := range items {
				items[i] = item{id: quotes, enc: []byte(`{}`), idx: i}
			}
			return items
		}, limits{MaxMaxRecords, MaxBody}, []int{967, 967, 66}},
		{"a repeated id goes to the next request", func() []Record {
			recs := records(4)
			for i, id := range []string{"a", "b", "a", "c"} {
				recs[i].ID = id
			}
			return recs
		}, nil, limits{500, MaxBody}, []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var items []item
			if tt.items != nil {
				items = tt.items()
			} else {
				items = testItems(t, c, tt.recs())
			}
			reqs := split(items, tt.lim)
			checkSplit(t, items, reqs, tt.lim)
			var sizes []int
			for _, r := range reqs {
				sizes = append(sizes, len(r))
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tt.sizes) {
				t.Errorf("records per request: got %v, want %v", sizes, tt.sizes)
			}
		})
	}
}

// TestSendGzip: with Gzip, requests hold up to 5 MiB of JSON when it
// compresses within the body limit, and are split when it does not.
func TestSendGzip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name     string
		data     func(i int) Record
		requests int // at most
		gzipped  bool
	}{
		{"compressible: 3 MB in one request", func(i int) Record {
			return Record{Data: json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("abc", 2000)))}
		}, 1, true},
		{"random: split to fit", func(int) Record {
			b := make([]byte, 6000)
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			return Record{Binary: b}
		}, 8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			srv := f.start()
			c, _ := newTestClient(t, Config{Endpoints: []string{srv.URL}, Gzip: true})
			recs := make([]Record, 500)
			for i := range recs {
				recs[i] = tt.data(i)
			}
			res, err := c.Send(context.Background(), recs)
			if err != nil {
				t.Fatal(err)
			}
			checkAcked(t, recs, res, f)
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.requests) > tt.requests || len(f.requests) < 1 || (f.gz == len(f.requests)) != tt.gzipped {
				t.Errorf("got %d requests, %d gzipped, want at most %d, all gzipped %v", len(f.requests), f.gz, tt.requests, tt.gzipped)
			}
		})
	}
}

// TestBuild: gzip only when it is smaller and fits; a body neither way
// within the limit is not built.
func TestBuild(t *testing.T) {
	c, _ := newTestClient(t, Config{Endpoints: []string{"http://127.0.0.1:1"}})
	rnd := rand.New(rand.NewPCG(3, 4))
	random := func(n int) Record {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return Record{Binary: b}
	}
	tests := []struct {
		name     string
		recs     []Record
		compress bool
		ok, gz   bool
	}{
		{"small, no gzip", records(3), false, true, false},
		{"small, gzip", records(30), true, true, true},
		{"tiny: gzip would be larger", records(1), true, true, false},
		{"random under the limit gzipped", []Record{random(740_000)}, true, true, true},
		{"random beyond the limit either way", []Record{random(600_000), random(600_000)}, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, ok := build(testItems(t, c, tt.recs), tt.compress)
			if ok != tt.ok || (ok && w.gzip != tt.gz) {
				t.Fatalf("build: got ok %v, gzip %v, want %v, %v", ok, w.gzip, tt.ok, tt.gz)
			}
			if !ok {
				return
			}
			if len(w.body) > MaxBody {
				t.Errorf("body %d bytes, limit %d", len(w.body), MaxBody)
			}
			body := w.body
			if w.gzip {
				zr, err := gzip.NewReader(bytes.NewReader(w.body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			var got struct{ Records []json.RawMessage }
			if err := json.Unmarshal(body, &got); err != nil || len(got.Records) != len(tt.recs) {
				t.Errorf("body: %v, %d records, want %d", err, len(got.Records), len(tt.recs))
			}
		})
	}
}

// FuzzSplit: any sequence of records cuts into requests within every limit,
// each record in exactly one request, in order; and every request's body,
// built as deliver builds it (gzip, or split when neither way fits), is
// within the body limits.
func FuzzSplit(f *testing.F) {
	f.Add(uint64(1), uint16(500), uint16(300), false)
	f.Add(uint64(2), uint16(5000), uint16(2000), false)
	f.Add(uint64(3), uint16(7), uint16(100), true)
	f.Add(uint64(4), uint16(5000), uint16(1500), true)
	c, err := New(Config{Endpoints: []string{"http://127.0.0.1:1"}, APIKey: "k"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, seed uint64, maxRecords, n uint16, compress bool) {
		rnd := rand.New(rand.NewPCG(seed, uint64(n)))
		lim := limits{records: int(maxRecords%MaxMaxRecords) + 1, body: MaxBody}
		if compress {
			lim.body = MaxDecodedBody
		}
		recs := make([]Record, int(n%3000))
		var seen []string
		for i := range recs {
			r := &recs[i]
			switch rnd.IntN(6) {
			case 0: // assigned
			case 1: // long, costly in the answer
				r.ID = strings.Repeat(`"`, MaxIDLen-4) + fmt.Sprintf("%04d", i%10000)
			case 2: // a repeat
				if len(seen) > 0 {
					r.ID = seen[rnd.IntN(len(seen))]
				}
			case 3:
				r.ID = fmt.Sprintf("<&>\u2028\\%d", i)
			default:
				r.ID = fmt.Sprintf("id-%d", i)
			}
			if r.ID != "" {
				seen = append(seen, r.ID)
			}
			size := rnd.IntN(200)
			switch rnd.IntN(200) {
			case 0:
				size = rnd.IntN(700_000)
			case 1, 2, 3, 4:
				size = rnd.IntN(60_000)
			}
			if rnd.IntN(2) == 0 {
				b := make([]byte, size)
				if rnd.IntN(3) == 0 {
					for j := range b {
						b[j] = byte(rnd.Uint32())
					}
				}
				r.Binary = b
			} else {
				r.Data = json.RawMessage(fmt.Sprintf(`{"pad":"%s"}`, strings.Repeat("x", size)))
			}
		}
		items := testItems(t, c, recs)
		reqs := split(items, lim)
		checkSplit(t, items, reqs, lim)
		// As deliver does: a body that fits neither way is halved.
		for _, req := range reqs {
			queue := [][]item{req}
			for len(queue) > 0 {
				w, ok := build(queue[0], compress)
				if !ok {
					h := len(queue[0]) / 2
					if h == 0 {
						t.Fatalf("a single record's body does not fit")
					}
					queue = append([][]item{queue[0][:h], queue[0][h:]}, queue[1:]...)
					continue
				}
				if len(w.body) > MaxBody || (w.gzip && !compress) {
					t.Fatalf("body of %d bytes (gzip %v), limit %d", len(w.body), w.gzip, MaxBody)
				}
				queue = queue[1:]
			}
		}
	})
}
