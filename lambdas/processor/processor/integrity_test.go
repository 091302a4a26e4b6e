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

	"github.com/twinstream/twinstream/lambdas/record"
)

// These tests check the processor's promise from the outside: every record of
// a batch that is not reported failed is in the store (its own line, or for a
// copy the line of an earlier record with the same identity and payload),
// bad records are in a quarantine object, and only canaries and copies are
// left out.

// kind is what the processor must do with one record.
type kind int

const (
	bad    kind = iota // quarantined
	probe              // canary: dropped
	kept               // written
	copied             // a copy of an earlier kept record: dropped
)

// expect is the model of one batch, computed independently of classify.
type expect struct {
	kinds []kind
	envs  []record.Envelope
	orig  []int // copied: the kept record it copies
	// conflict: kept, and an earlier kept record has its identity.
	conflict []bool
}

func model(recs []Record) expect {
	m := expect{kinds: make([]kind, len(recs)), envs: make([]record.Envelope, len(recs)),
		orig: make([]int, len(recs)), conflict: make([]bool, len(recs))}
	for j, r := range recs {
		e, err := record.Decode(r.Data)
		switch {
		case err != nil || e.ReceivedAt.IsZero():
			m.kinds[j] = bad
			continue
		case e.Canary:
			m.kinds[j] = probe
			continue
		}
		m.envs[j], m.kinds[j] = e, kept
		for i := range j {
			if m.kinds[i] != kept || m.envs[i].Identity() != e.Identity() {
				continue
			}
			if m.envs[i].SamePayload(&e) {
				m.kinds[j], m.orig[j] = copied, i
				break
			}
			m.conflict[j] = true
		}
		if m.kinds[j] == copied {
			m.conflict[j] = false
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

// has reports whether record i's line is in a sink object of its hour whose
// sequence range holds it.
func (c contents) has(m expect, recs []Record, i int) bool {
	seq, err := strconv.Atoi(recs[i].SequenceNumber)
	if err != nil {
		return false
	}
	hour := m.envs[i].ReceivedAt.UTC().Format("dt=2006-01-02/hr=15")
	return slices.ContainsFunc(c.sink[string(m.envs[i].Append(nil))], func(s span) bool {
		return s.hour == hour && s.first <= seq && seq <= s.last
	})
}

// checkStored checks that recs[:upto] are all accounted for in s, and returns
// the model. A copy counts as stored only if the earlier record it copies is.
// A record stored under its own line is fine even when the model calls it a
// copy: after a retry from a later record, it is the first of its kind.
func checkStored(t *testing.T, recs []Record, upto int, s *store) expect {
	t.Helper()
	m := model(recs)
	c := index(t, s)
	for i := range upto {
		switch k := m.kinds[i]; {
		case k == bad:
			if !c.quar[recs[i].SequenceNumber] {
				t.Errorf("record %s (bad): not in a quarantine object", recs[i].SequenceNumber)
			}
		case k == kept && !c.has(m, recs, i):
			t.Errorf("record %s (%+v): not stored", recs[i].SequenceNumber, m.envs[i].Identity())
		case k == copied && !c.has(m, recs, i) && !c.has(m, recs, m.orig[i]):
			t.Errorf("record %s dropped as a copy of %s, which is not stored", recs[i].SequenceNumber, recs[m.orig[i]].SequenceNumber)
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
// record: each one is written, quarantined, dropped as a canary, or dropped as
// a true copy (same producer, id and payload) of an earlier record that is
// written. data is split at 0x1e into records placed between fixed ones, and
// the batch repeats them, so the fuzzer finds copies and conflicts. failAt
// makes that PutObject fail: the records not stored must then be reported,
// and Lambda's retry from the first reported one (with S3 back) must store
// the rest without overwriting an object with fewer records.
func FuzzRun(f *testing.F) {
	f.Add([]byte(line(env("a", h10))), uint8(0))
	f.Add([]byte("not json"), uint8(0))
	f.Add([]byte(`{"id":"x","region":"r","receivedAt":"2025-03-04T10:00:00Z","partitionKey":"p","encoding":"base64","data":"!!"}`), uint8(0))
	f.Add([]byte(line(env("first", h11))+"\x1e"+line(with("[1]", env("first", h10)))+"\x1e"+line(by("p", env("last", h10)))), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, failAt uint8) {
		parts := bytes.SplitN(data, []byte{0x1e}, 8)
		items := []any{env("first", h10)}
		for _, p := range parts {
			items = append(items, p)
		}
		items = append(items, env("last", h11))
		for _, p := range parts {
			items = append(items, p)
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
			for i, kd := range m.kinds {
				switch kd {
				case bad:
					want.Quarantined++
				case probe:
					want.Canaries++
				case kept:
					want.Written++
					if m.conflict[i] {
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

// mixedBatch is a batch after an outage: three hours interleaved (replayed
// records of two earlier hours among live ones), two producers with the same
// ids, copies, a conflict, canaries and bad records.
func mixedBatch() []Record {
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
	return recsOf(append(items, items[3], items[10])...) // copies, far from their originals
}

// TestRunRetryMixedHours tries to lose a record through a failed put in the
// middle of a mixed-hour batch followed by Lambda's retry from the first
// reported record, for every put that can fail, and again in the retry.
func TestRunRetryMixedHours(t *testing.T) {
	recs := mixedBatch()
	all := &store{}
	res, err := newProcessor(all).Run(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	objs := len(res.Keys)
	if objs != 4 {
		t.Fatalf("got %d objects, want 4 (3 hours and quarantine)", objs)
	}
	for first := 1; first <= objs; first++ {
		for second := 0; second <= objs; second++ {
			t.Run(fmt.Sprint(first, "/", second), func(t *testing.T) {
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
				if len(s.changed) > 0 {
					t.Errorf("got objects overwritten with other content: %q", s.changed)
				}
			})
		}
	}
}

// TestRunRetryBisected: a function error (a timeout) after some puts makes
// the mapping retry the whole batch, bisected. The halves may rewrite keys the
// whole batch wrote, but never with fewer records.
func TestRunRetryBisected(t *testing.T) {
	recs := mixedBatch()
	for puts := 1; puts <= 4; puts++ {
		for m := 1; m < len(recs); m += 3 {
			t.Run(fmt.Sprint(puts, "/", m), func(t *testing.T) {
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
