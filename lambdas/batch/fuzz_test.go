package batch

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

// FuzzRead: Read never panics and accounts for every envelope. Each one is
// an Item holding its decoded envelope, a Bad with its data and error, a
// canary skipped, or a copy skipped whose original (same producer, id and
// payload) is an earlier Item; a packed record that cannot be unpacked is
// one Bad with its data. data is split at 0x1e into records placed between
// fixed ones, and the batch repeats them, so the fuzzer finds copies and
// conflicts; a part starting with 0x1f becomes a packed record of the rest's
// lines (split at 0x1d). from is given to FailedFrom.
func FuzzRead(f *testing.F) {
	e := env("p", "a", `{"n":1}`)
	f.Add(e.Append(nil), 3)
	e2 := env("p", "b", `2`)
	f.Add(append(append(append([]byte{0x1f}, e.Append(nil)...), 0x1d), e2.Append(nil)...), 1)
	f.Fuzz(func(t *testing.T, data []byte, from int) {
		parts := bytes.SplitN(data, []byte{0x1e}, 8)
		items := []any{env("p", "first", `1`)}
		part := func(p []byte) any {
			if len(p) == 0 || p[0] != 0x1f {
				return string(p)
			}
			var pk packed
			for _, l := range bytes.Split(p[1:], []byte{0x1d}) {
				if bytes.IndexByte(l, '\n') >= 0 {
					return string(p)
				}
				pk = append(pk, string(l))
			}
			if n := len(p); n > pack.MaxBody/2 {
				return string(p)
			}
			return pk
		}
		for _, p := range parts {
			items = append(items, part(p))
		}
		items = append(items, canary("k"))
		for _, p := range parts {
			items = append(items, part(p))
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
	var items, bad, canaries, dups, conflicts, envelopes int
	for i, r := range recs {
		lines, err := pack.Unpack(r.Data)
		if err != nil {
			// A packed record that cannot be unpacked: one Bad, whole.
			if bad >= len(b.Bad) || b.Bad[bad].Index != i || !bytes.Equal(b.Bad[bad].Data, r.Data) || b.Bad[bad].Err == nil {
				t.Fatalf("record %d (%v): not the next Bad (%v)", i, err, b.Bad[bad:])
			}
			bad++
			envelopes++
			continue
		}
		for _, line := range lines {
			envelopes++
			e, err := decode(line)
			switch {
			case err != nil:
				if bad >= len(b.Bad) || b.Bad[bad].Index != i {
					t.Fatalf("record %d (%v): not the next Bad (%v)", i, err, b.Bad[bad:])
				}
				if x := b.Bad[bad]; x.Err == nil || !bytes.Equal(x.Data, line) {
					t.Fatalf("record %d: got Bad %q, %v, want %q and an error", i, x.Data, x.Err, line)
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
	}
	if items != len(b.Items) || bad != len(b.Bad) {
		t.Fatalf("got %d Items and %d Bad, want %d and %d", len(b.Items), len(b.Bad), items, bad)
	}
	if b.Canaries != canaries || b.Duplicates != dups || b.Conflicts != conflicts {
		t.Fatalf("got %d canaries, %d copies, %d conflicts, want %d, %d, %d", b.Canaries, b.Duplicates, b.Conflicts, canaries, dups, conflicts)
	}
	if n := len(b.Items) + len(b.Bad) + b.Canaries + b.Duplicates; n != envelopes {
		t.Fatalf("got %d envelopes accounted for, want %d", n, envelopes)
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
