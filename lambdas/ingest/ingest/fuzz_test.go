package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"testing"

	"github.com/twinstream/twinstream/lambdas/record"
)

// FuzzParse feeds arbitrary bodies to the request parser. It must never
// panic, and every record it accepts must round-trip: its envelope decodes
// (record.Decode) to the same id, partition key and payload, and the
// payload is what encoding/json reads from the producer's record.
func FuzzParse(f *testing.F) {
	// More seeds: testdata/fuzz/FuzzParse.
	f.Add([]byte(`{"records":[{"id":"a","data":{"k":[1,2]}}]}`), TypeJSON)
	f.Add([]byte("{\"data\":1}\n\n{\"dataBase64\":\"AAE=\"}\n"), TypeNDJSON)
	f.Add([]byte("\x00\xff"), TypeBinary)

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || (mt != TypeJSON && mt != TypeNDJSON && mt != TypeBinary) {
			// The handler answers 415 to these; spend the input on a parser.
			mt = []string{TypeJSON, TypeNDJSON, TypeBinary}[len(contentType)%3]
		}
		hdr := http.Header{}
		if mt == TypeBinary && len(body) > 2 {
			// Let the fuzzer reach the header checks too.
			n := 1 + int(body[0])%(len(body)-1)
			hdr.Set(HeaderRecordID, string(body[1:n]))
		}
		const max = 50
		ins, bad, n, rej := parse(body, mt, hdr, max)
		switch {
		case rej != nil:
			if ins != nil || bad != nil || n != 0 || rej.Error == "" {
				t.Fatalf("reject %+v with records %d bad %d count %d", rej, len(ins), len(bad), n)
			}
			return
		case bad != nil:
			if ins != nil {
				t.Fatal("both records and bad records")
			}
			if n < len(bad) || n > max {
				t.Fatalf("%d bad records of %d, want a count from %d to %d", len(bad), n, len(bad), max)
			}
			for i, b := range bad {
				if b.Reason == "" || b.Index < 0 || b.Index >= max || (i > 0 && b.Index <= bad[i-1].Index) {
					t.Fatalf("bad records %+v: want ascending indices with reasons", bad)
				}
				if b.DuplicateOf != nil {
					checkRepeat(t, body, mt, b.Index, *b.DuplicateOf)
				}
			}
			return
		}
		if len(ins) == 0 || len(ins) > max || n != len(ins) {
			t.Fatalf("%d records accepted (count %d), want 1 to %d", len(ins), n, max)
		}
		checkReference(t, body, mt, ins)
		seen := map[string]int{}
		for i, in := range ins {
			if j, ok := seen[in.id]; ok && in.id != "" {
				t.Fatalf("records %d and %d accepted with one id %q", j, i, in.id)
			}
			seen[in.id] = i
		}

		gen := 0
		envs, entries, tooBig := envelopes(ins, "team-test", "us-east-1", t0, func() string { gen++; return fmt.Sprintf("gen-%d", gen) })
		if tooBig != nil {
			return
		}
		for i, in := range ins {
			got, err := record.Decode(entries[i].Data)
			if err != nil {
				t.Fatalf("record %d: envelope does not decode: %v: %q", i, err, entries[i].Data)
			}
			if got.ID != envs[i].ID || (in.id != "" && got.ID != in.id) {
				t.Fatalf("record %d id %q, want %q", i, got.ID, in.id)
			}
			if got.PartitionKey != entries[i].PartitionKey || (in.pk != "" && got.PartitionKey != in.pk) {
				t.Fatalf("record %d partition key %q, want %q", i, got.PartitionKey, in.pk)
			}
			p, err := got.Payload()
			if err != nil {
				t.Fatalf("record %d payload: %v", i, err)
			}
			if !bytes.Equal(p, in.data) {
				t.Fatalf("record %d payload %q, want %q", i, p, in.data)
			}
			if want := map[bool]string{true: record.EncodingBase64, false: record.EncodingJSON}[in.binary]; got.Encoding != want {
				t.Fatalf("record %d encoding %q, want %q", i, got.Encoding, want)
			}
		}
	})
}

// rawRecords splits a JSON or NDJSON body into its records as encoding/json
// sees them.
func rawRecords(t *testing.T, body []byte, mt string) []json.RawMessage {
	t.Helper()
	var raws []json.RawMessage
	switch mt {
	case TypeJSON:
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("accepted a body encoding/json rejects: %v", err)
		}
		if err := json.Unmarshal(doc["records"], &raws); err != nil {
			t.Fatalf("accepted records encoding/json rejects: %v", err)
		}
	case TypeNDJSON:
		for _, l := range bytes.Split(body, []byte("\n")) {
			if l = bytes.Trim(l, " \t\r\n"); len(l) > 0 {
				raws = append(raws, l)
			}
		}
	}
	return raws
}

// checkRepeat checks that record i repeats record j's id, as encoding/json
// reads them.
func checkRepeat(t *testing.T, body []byte, mt string, i, j int) {
	t.Helper()
	raws := rawRecords(t, body, mt)
	if j < 0 || j >= i || i >= len(raws) {
		t.Fatalf("record %d said to repeat record %d of %d", i, j, len(raws))
	}
	id := func(raw json.RawMessage) string {
		var r struct {
			ID *string `json:"id"`
		}
		if err := json.Unmarshal(raw, &r); err != nil || r.ID == nil {
			t.Fatalf("record %q has no id encoding/json reads (%v)", raw, err)
		}
		return *r.ID
	}
	if a, b := id(raws[j]), id(raws[i]); a != b {
		t.Fatalf("record %d id %q said to repeat record %d's %q", i, b, j, a)
	}
}

// checkReference compares accepted records with what encoding/json reads
// from the same body.
func checkReference(t *testing.T, body []byte, mt string, ins []input) {
	t.Helper()
	if mt == TypeBinary {
		if len(ins) != 1 || !ins[0].binary || !bytes.Equal(ins[0].data, body) {
			t.Fatalf("binary body became %+v", ins)
		}
		return
	}
	raws := rawRecords(t, body, mt)
	if len(raws) != len(ins) {
		t.Fatalf("%d records accepted, encoding/json sees %d", len(ins), len(raws))
	}
	for i, raw := range raws {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("record %d accepted, encoding/json says %v", i, err)
		}
		str := func(k string) string {
			var s string
			if v, ok := m[k]; ok && string(v) != "null" {
				if err := json.Unmarshal(v, &s); err != nil {
					t.Fatalf("record %d %s: %v", i, k, err)
				}
			}
			return s
		}
		if got, want := ins[i].id, str("id"); got != want {
			t.Fatalf("record %d id %q, encoding/json reads %q", i, got, want)
		}
		if got, want := ins[i].pk, str("partitionKey"); got != want {
			t.Fatalf("record %d partitionKey %q, encoding/json reads %q", i, got, want)
		}
		if ins[i].binary {
			want, err := base64.StdEncoding.DecodeString(str("dataBase64"))
			if err != nil || !bytes.Equal(ins[i].data, want) {
				t.Fatalf("record %d binary data %q, encoding/json reads %q (%v)", i, ins[i].data, want, err)
			}
			continue
		}
		var want bytes.Buffer
		if err := json.Compact(&want, m["data"]); err != nil {
			t.Fatalf("record %d data: %v", i, err)
		}
		if !bytes.Equal(ins[i].data, want.Bytes()) {
			t.Fatalf("record %d data %q, encoding/json reads %q", i, ins[i].data, want.Bytes())
		}
	}
}
