package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

// These tests check the processor's promise from the outside: every envelope
// of a batch whose Kinesis record is not reported failed is in the store (its
// own line, or for a copy the line of an earlier envelope with the same
// identity and payload), bad records and lines are in a quarantine object,
// and only canaries and copies are left out. A Kinesis record holds one
// envelope, or many when packed.

// kind is what the processor must do with one envelope.
type kind int

const (
	bad    kind = iota // quarantined
	probe              // canary: dropped
	kept               // written
	copied             // a copy of an earlier kept envelope: dropped
)

// unit is one envelope of the batch (or a packed record that cannot be
// unpacked), in the model computed independently of Read and Run.
type unit struct {
	rec  int // the Kinesis record holding it
	kind kind
	env  record.Envelope
	orig int // copied: the kept unit it copies
	// conflict: kept, and an earlier kept unit has its identity.
	conflict bool
}

func model(recs []Record) []unit {
	var m []unit
	for r, rc := range recs {
		lines, err := pack.Unpack(rc.Data)
		if err != nil {
			m = append(m, unit{rec: r, kind: bad})
			continue
		}
		for _, l := range lines {
			u := unit{rec: r}
			e, err := record.Decode(l)
			switch {
			case err != nil || e.ReceivedAt.IsZero():
				m = append(m, u)
				continue
			case e.Canary:
				u.kind = probe
				m = append(m, u)
				continue
			}
			u.env, u.kind = e, kept
			for i := range m {
				if m[i].kind != kept || m[i].env.Identity() != e.Identity() {
					continue
				}
				if m[i].env.SamePayload(&e) {
					u.kind, u.orig = copied, i
					break
				}
				u.conflict = true
			}
			if u.kind == copied {
				u.conflict = false
			}
			m = append(m, u)
		}
	}
	return m
}

// span is where a sink object's records come from: their hour directory and
// the object's first and last sequence numbers (decimal in these tests).
type span struct {
	hour        string
	first, last int
}

// contents indexes a store: sink lines to the objects holding them, the
// sequence numbers found in quarantine objects, and the number of sink lines.
type contents struct {
	sink  map[string][]span
	quar  map[string]bool
	lines int
}

func index(t *testing.T, s *store) contents {
	t.Helper()
	c := contents{sink: map[string][]span{}, quar: map[string]bool{}}
	for key, o := range s.objs {
		dir, file := path.Split(key)
		parts := strings.Split(strings.TrimSuffix(file, ".ndjson.gz"), "-")
		if len(parts) < 3 {
			t.Fatalf("key %s: want <shard>-<first>-<last>.ndjson.gz", key)
		}
		first, err1 := strconv.Atoi(parts[len(parts)-2])
		last, err2 := strconv.Atoi(parts[len(parts)-1])
		if err1 != nil || err2 != nil || first > last {
			t.Fatalf("key %s: sequence numbers %q %q", key, parts[len(parts)-2], parts[len(parts)-1])
		}
		for _, l := range lines(t, o) {
			if !json.Valid([]byte(l)) {
				t.Fatalf("%s: got invalid line %q", key, l)
			}
			if strings.HasPrefix(key, "quarantine/") {
				var q struct{ SequenceNumber string }
				if err := json.Unmarshal([]byte(l), &q); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				c.quar[q.SequenceNumber] = true
				continue
			}
			// dir is records/region=.../dt=.../hr=../
			d := strings.TrimSuffix(dir, "/")
			hour := path.Join(path.Base(path.Dir(d)), path.Base(d))
			c.sink[l] = append(c.sink[l], span{hour, first, last})
			c.lines++
		}
	}
	return c
}

// has reports whether unit u's line is in a sink object of its hour whose
// sequence range holds its Kinesis record.
func (c contents) has(recs []Record, u unit) bool {
	seq, err := strconv.Atoi(recs[u.rec].SequenceNumber)
	if err != nil {
		return false
	}
	hour := u.env.ReceivedAt.UTC().Format("dt=2006-01-02/hr=15")
	return slices.ContainsFunc(c.sink[string(u.env.Append(nil))], func(s span) bool {
		return s.hour == hour && s.first <= seq && seq <= s.last
	})
}

// checkStored checks that the envelopes of recs[:upto] are all accounted for
// in s, and returns the model. A copy counts as stored only if the earlier
// envelope it copies is. An envelope stored under its own line is fine even
// when the model calls it a copy: after a retry from a later record, it is
// the first of its kind.
func checkStored(t *testing.T, recs []Record, upto int, s *store) []unit {
	t.Helper()
	m := model(recs)
	c := index(t, s)
	for _, u := range m {
		if u.rec >= upto {
			break
		}
		seq := recs[u.rec].SequenceNumber
		switch k := u.kind; {
		case k == bad:
			if !c.quar[seq] {
				t.Errorf("record %s (bad): not in a quarantine object", seq)
			}
		case k == kept && !c.has(recs, u):
			t.Errorf("record %s (%+v): not stored", seq, u.env.Identity())
		case k == copied && !c.has(recs, u) && !c.has(recs, m[u.orig]):
			t.Errorf("record %s (%+v) dropped as a copy of record %s's, which is not stored", seq, u.env.Identity(), recs[m[u.orig].rec].SequenceNumber)
		}
	}
	if len(s.shrunk) > 0 {
		t.Errorf("got objects overwritten with fewer records: %q", s.shrunk)
	}
	return m
}

// failingAt is a store whose n-th PutObject fails (none when n is 0).
func failingAt(n int) *store {
	return &store{fail: func(call int, _ string) error {
		if call == n {
			return errBoom
		}
		return nil
	}}
}

var errBoom = errors.New("s3 down")

// failedFrom returns the index of the first failed record, checking that the
// failed records are the whole rest of the batch (Lambda retries from the
// first one anyway; a gap would say the processor thinks otherwise).
func failedFrom(t *testing.T, recs []Record, failed []string) int {
	t.Helper()
	if len(failed) == 0 {
		return len(recs)
	}
	k := slices.IndexFunc(recs, func(r Record) bool { return r.SequenceNumber == failed[0] })
	if k < 0 || !slices.Equal(failed, seqs(recs[k:])) {
		t.Fatalf("got failed %q, want a suffix of the batch", failed)
	}
	return k
}

// FuzzRun checks that no record content makes the processor panic or lose a
// record: each envelope is written, quarantined, dropped as a canary, or
// dropped as a true copy (same producer, id and payload) of an earlier one
// that is written. data is split at 0x1e into records placed between fixed
// ones, and the batch repeats them, so the fuzzer finds copies and
// conflicts; a part starting with 0x1f is a packed record of the rest's
// lines (split at 0x1d). failAt makes that PutObject fail: the records not
// stored must then be reported, and Lambda's retry from the first reported
// one (with S3 back) must store the rest without overwriting an object with
// fewer records.
func FuzzRun(f *testing.F) {
	f.Add([]byte(line(env("a", h10))), uint8(0))
	f.Add([]byte("not json"), uint8(0))
	f.Add([]byte(`{"id":"x","region":"r","receivedAt":"2025-03-04T10:00:00Z","partitionKey":"p","encoding":"base64","data":"!!"}`), uint8(0))
	f.Add([]byte(line(env("first", h11))+"\x1e"+line(with("[1]", env("first", h10)))+"\x1e"+line(by("p", env("last", h10)))), uint8(2))
	f.Add([]byte("\x1f"+line(env("first", h11))+"\x1d"+line(with("[1]", env("first", h10)))+"\x1dnot json\x1e"+line(by("p", env("last", h10)))), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, failAt uint8) {
		parts := bytes.SplitN(data, []byte{0x1e}, 8)
		items := []any{env("first", h10)}
		part := func(p []byte) any {
			if len(p) == 0 || p[0] != 0x1f || len(p) > pack.MaxBody/2 {
				return p
			}
			var pk packed
			for _, l := range bytes.Split(p[1:], []byte{0x1d}) {
				if bytes.IndexByte(l, '\n') >= 0 {
					return p
				}
				pk = append(pk, l)
			}
			return pk
		}
		for _, p := range parts {
			items = append(items, part(p))
		}
		items = append(items, env("last", h11))
		for _, p := range parts {
			items = append(items, part(p))
		}
		items = append(items, env("first", h10))
		recs := recsOf(items...)

		s := failingAt(int(failAt))
		res, err := newProcessor(s).Run(context.Background(), recs)
		if (err != nil) != (len(res.Failed) > 0) {
			t.Fatalf("got error %v with failed %q, want both or neither", err, res.Failed)
		}
		k := failedFrom(t, recs, res.Failed)
		if err != nil && int(failAt) != len(s.calls) {
			t.Fatalf("got error %v on call %d, want one only from call %d", err, len(s.calls), failAt)
		}
		m := checkStored(t, recs, k, s)
		if c := index(t, s); c.lines != res.Written {
			t.Errorf("got %d lines stored, Written %d", c.lines, res.Written)
		}
		if err == nil {
			var want Result
			want.Records = len(recs)
			for _, u := range m {
				switch u.kind {
				case bad:
					want.Quarantined++
				case probe:
					want.Canaries++
				case kept:
					want.Written++
					if u.conflict {
						want.Conflicts++
					}
				case copied:
					want.Duplicates++
				}
			}
			got := Result{Records: res.Records, Written: res.Written, Quarantined: res.Quarantined,
				Canaries: res.Canaries, Duplicates: res.Duplicates, Conflicts: res.Conflicts}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			return
		}
		// Lambda retries from the first failed record; S3 is back.
		s.fail = nil
		if res, err := newProcessor(s).Run(context.Background(), recs[k:]); err != nil {
			t.Fatalf("retry: got %v, %q, want no failure", err, res.Failed)
		}
		checkStored(t, recs, len(recs), s)
	})
}

// mixedItems is a batch after an outage: three hours interleaved (replayed
// records of two earlier hours among live ones), two producers with the same
// ids, copies, a conflict, canaries and bad records.
func mixedItems() []any {
	h09 := h10.Add(-time.Hour)
	var items []any
	for i := range 24 {
		at := []time.Time{h11, h10, h11, h09}[i%4]
		e := by([]string{"team-a", "team-b"}[i%2], env(fmt.Sprint("order-", i/2), at))
		items = append(items, e)
		switch i % 6 {
		case 1:
			items = append(items, canary(fmt.Sprint("k", i), h11))
		case 2:
			items = append(items, e) // a copy, right after
		case 3:
			items = append(items, "not an envelope")
		case 4:
			items = append(items, with(`{"changed":true}`, e)) // a conflict
		}
	}
	return append(items, items[3], items[10]) // copies, far from their originals
}

func mixedBatch() []Record { return recsOf(mixedItems()...) }

// packedMixedBatch is mixedItems in packed records of 1 to 4 envelopes
// (a bad line inside some), among a few plain records: the hours, copies
// and conflicts now meet inside packed records and across them.
func packedMixedBatch() []Record {
	items := mixedItems()
	var out []any
	for i, n := 0, 1; i < len(items); n = n%4 + 1 {
		if n == 4 {
			out = append(out, items[i]) // plain
			i++
			continue
		}
		end := min(i+n+1, len(items))
		out = append(out, packed(items[i:end]))
		i = end
	}
	return recsOf(out...)
}

// retryBatches are the batches the retry tests run: one envelope per
// Kinesis record, and packed.
func retryBatches() map[string][]Record {
	return map[string][]Record{"plain": mixedBatch(), "packed": packedMixedBatch()}
}

// TestRunRetryMixedHours tries to lose a record through a failed put in the
// middle of a mixed-hour batch followed by Lambda's retry from the first
// reported record, for every put that can fail, and again in the retry, with
// plain and with packed records.
func TestRunRetryMixedHours(t *testing.T) {
	for name, recs := range retryBatches() {
		all := &store{}
		res, err := newProcessor(all).Run(context.Background(), recs)
		if err != nil {
			t.Fatal(err)
		}
		objs := len(res.Keys)
		if objs != 4 {
			t.Fatalf("%s: got %d objects, want 4 (3 hours and quarantine)", name, objs)
		}
		for first := 1; first <= objs; first++ {
			for second := 0; second <= objs; second++ {
				t.Run(fmt.Sprint(name, "/", first, "/", second), func(t *testing.T) {
					s := &store{}
					start, invocations := 0, 0
					for fails := []int{first, second, 0}; ; fails = fails[1:] {
						if len(fails) == 0 {
							t.Fatalf("still failing after %d invocations", invocations)
						}
						s.calls, s.fail = nil, failingAt(fails[0]).fail
						res, err := newProcessor(s).Run(context.Background(), recs[start:])
						invocations++
						k := failedFrom(t, recs[start:], res.Failed)
						checkStored(t, recs, start+k, s)
						if err == nil {
							break
						}
						start += k
					}
					checkStored(t, recs, len(recs), s)
					// A packed record's envelopes of two hours start two
					// objects at one record: when the second fails, the
					// retry from that record rewrites the first's key,
					// with the records an earlier one had made copies
					// (checkStored: never fewer). One envelope per record
					// never rewrites a key.
					if name == "plain" && len(s.changed) > 0 {
						t.Errorf("got objects overwritten with other content: %q", s.changed)
					}
				})
			}
		}
	}
}

// TestRunRetryBisected: a function error (a timeout) after some puts makes
// the mapping retry the whole batch, bisected. The halves may rewrite keys the
// whole batch wrote, but never with fewer records.
func TestRunRetryBisected(t *testing.T) {
	for name, recs := range retryBatches() {
		for puts := 1; puts <= 4; puts++ {
			for m := 1; m < len(recs); m += 3 {
				t.Run(fmt.Sprint(name, "/", puts, "/", m), func(t *testing.T) {
					s := failingAt(puts + 1) // the invocation dies before put puts+1 ends
					if _, err := newProcessor(s).Run(context.Background(), recs); err == nil && puts < 4 {
						t.Fatal("got no error, want the put to fail")
					}
					s.fail = nil
					for _, half := range [][]Record{recs[:m], recs[m:]} {
						if res, err := newProcessor(s).Run(context.Background(), half); err != nil {
							t.Fatalf("got %v, %q, want no failure", err, res.Failed)
						}
					}
					checkStored(t, recs, len(recs), s)
				})
			}
		}
	}
}
