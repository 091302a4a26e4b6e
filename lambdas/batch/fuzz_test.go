package batch

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"github.com/twinstream/twinstream/lambdas/record"
)

// FuzzRead: Read never panics and accounts for every record. Each one is an
// Item holding its decoded envelope, a Bad with its data and error, a canary
// skipped, or a copy skipped whose original (same producer, id and payload)
// is an earlier Item. data is split at 0x1e into records placed between
// fixed ones, and the batch repeats them, so the fuzzer finds copies and
// conflicts. from is given to FailedFrom.
func FuzzRead(f *testing.F) {
	e := env("p", "a", `{"n":1}`)
	f.Add(e.Append(nil), 3)
	f.Fuzz(func(t *testing.T, data []byte, from int) {
		parts := bytes.SplitN(data, []byte{0x1e}, 8)
		items := []any{env("p", "first", `1`)}
		for _, p := range parts {
			items = append(items, string(p))
		}
		items = append(items, canary("k"))
		for _, p := range parts {
			items = append(items, string(p))
		}
		items = append(items, env("p", "first", `1`))
		recs := recsOf(items...)

		b := Read(recs)
		checkRead(t, recs, b)

		want := []string{}
		for _, r := range recs[min(max(from, 0), len(recs)):] {
			want = append(want, r.SequenceNumber)
		}
		if got := b.FailedFrom(from); len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("FailedFrom(%d): got %q, want %q", from, got, want)
		}
	})
}

// checkRead checks b against a model of Read computed independently of it.
func checkRead(t *testing.T, recs []Record, b *Batch) {
	t.Helper()
	if len(b.Records) != len(recs) {
		t.Fatalf("got %d Records, want %d", len(b.Records), len(recs))
	}
	var items, bad, canaries, dups, conflicts int
	for i, r := range recs {
		e, err := decode(r.Data)
		switch {
		case err != nil:
			if bad >= len(b.Bad) || b.Bad[bad].Index != i {
				t.Fatalf("record %d (%v): not the next Bad (%v)", i, err, b.Bad[bad:])
			}
			if x := b.Bad[bad]; x.Err == nil || !bytes.Equal(x.Data, r.Data) {
				t.Fatalf("record %d: got Bad %q, %v, want its data and an error", i, x.Data, x.Err)
			}
			bad++
			continue
		case e.Canary:
			canaries++
			continue
		}
		// Earlier Items (already checked to be the model's kept records).
		kept := b.Items[:items]
		if slices.ContainsFunc(kept, func(it Item) bool { return it.Envelope.Duplicate(&e) }) {
			dups++
			continue
		}
		if items >= len(b.Items) || b.Items[items].Index != i {
			t.Fatalf("record %d (%+v): not the next Item", i, e.Identity())
		}
		it := b.Items[items]
		if !reflect.DeepEqual(it.Envelope, e) || it.SequenceNumber != r.SequenceNumber {
			t.Fatalf("record %d: got Item %+v, want %+v seq %s", i, it, e, r.SequenceNumber)
		}
		conflict := slices.ContainsFunc(kept, func(k Item) bool { return k.Envelope.Identity() == e.Identity() })
		if it.Conflict != conflict {
			t.Fatalf("record %d: got Conflict %t, want %t", i, it.Conflict, conflict)
		}
		if conflict {
			conflicts++
		}
		items++
	}
	if items != len(b.Items) || bad != len(b.Bad) {
		t.Fatalf("got %d Items and %d Bad, want %d and %d", len(b.Items), len(b.Bad), items, bad)
	}
	if b.Canaries != canaries || b.Duplicates != dups || b.Conflicts != conflicts {
		t.Fatalf("got %d canaries, %d copies, %d conflicts, want %d, %d, %d", b.Canaries, b.Duplicates, b.Conflicts, canaries, dups, conflicts)
	}
	if n := len(b.Items) + len(b.Bad) + b.Canaries + b.Duplicates; n != len(recs) {
		t.Fatalf("got %d records accounted for, want %d", n, len(recs))
	}
}

// decode is what the model calls an envelope: one record.Decode accepts, with
// a receive time.
func decode(data []byte) (record.Envelope, error) {
	e, err := record.Decode(data)
	if err == nil && e.ReceivedAt.IsZero() {
		err = ErrNoReceivedAt
	}
	return e, err
}
