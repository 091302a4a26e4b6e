package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/twinstream/twinstream/lambdas/pack"
)

// line is entry i's data: a JSON line naming i, padded to n bytes.
func line(i, n int) []byte {
	b := fmt.Appendf(nil, `{"i":%d,"pad":"`, i)
	b = append(b, strings.Repeat("x", max(0, n-len(b)-2))...)
	return append(b, '"', '}')
}

// lineIndex reads i back from a line.
func lineIndex(t *testing.T, l []byte) int {
	t.Helper()
	s, ok := bytes.CutPrefix(l, []byte(`{"i":`))
	end := bytes.IndexByte(s, ',')
	if !ok || end < 0 {
		t.Fatalf("line %.40q is not one of the test's", l)
	}
	i, err := strconv.Atoi(string(s[:end]))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// unpacked returns the entry indices a record carries, in order.
func unpacked(t *testing.T, data []byte) []int {
	t.Helper()
	lines, err := pack.Unpack(data)
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	var idx []int
	for _, l := range lines {
		idx = append(idx, lineIndex(t, l))
	}
	return idx
}

// keyed makes entries of n-byte lines: keys[i] "" for an AnyShard entry
// (its partition key is then "id-<i>", as ingest gives its id).
func keyed(n int, keys ...string) []Entry {
	es := make([]Entry, len(keys))
	for i, k := range keys {
		es[i] = Entry{Data: line(i, n), PartitionKey: k}
		if k == "" {
			es[i].PartitionKey, es[i].AnyShard = "id-"+strconv.Itoa(i), true
		}
	}
	return es
}

// TestPackRule: AnyShard entries together under the first one's key; the
// others per key, under it, in order; records in the order of their first
// entry; a lone small entry plain.
func TestPackRule(t *testing.T) {
	type rec struct {
		key    string
		idx    []int
		packed bool
	}
	tests := []struct {
		name    string
		entries []Entry
		want    []rec
	}{
		{"no keys: one packed record", keyed(200, "", "", "", ""), []rec{{"id-0", []int{0, 1, 2, 3}, true}}},
		{"one key: one packed record", keyed(200, "k", "k", "k"), []rec{{"k", []int{0, 1, 2}, true}}},
		{
			"keys and no keys interleaved",
			keyed(200, "a", "", "b", "a", "", "b", "c"),
			[]rec{{"a", []int{0, 3}, true}, {"id-1", []int{1, 4}, true}, {"b", []int{2, 5}, true}, {"c", []int{6}, false}},
		},
		{"a key equal to another entry's id is still a key", keyed(200, "", "id-0"), []rec{{"id-0", []int{0}, false}, {"id-0", []int{1}, false}}},
		{"one entry: plain", keyed(200, ""), []rec{{"id-0", []int{0}, false}}},
		{"every entry its own key: all plain", keyed(200, "a", "b", "c"), []rec{{"a", []int{0}, false}, {"b", []int{1}, false}, {"c", []int{2}, false}}},
		{"a lone large entry packed: fewer KiB", keyed(5000, "a", ""), []rec{{"a", []int{0}, true}, {"id-1", []int{1}, true}}},
		{"invalid key: plain, for Writer to refuse", append(keyed(200, "", ""), Entry{Data: line(2, 200), PartitionKey: ""}), []rec{{"id-0", []int{0, 1}, true}, {"", []int{2}, false}}},
		{"a line break: plain", append(keyed(200, "", ""), Entry{Data: []byte("{\"i\":2,\n\"x\":1}"), PartitionKey: "id-2", AnyShard: true}), []rec{{"id-0", []int{0, 1}, true}, {"id-2", []int{2}, false}}},
		{"empty: nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, from := Pack(tt.entries)
			var got []rec
			for k, r := range recs {
				g := rec{key: r.PartitionKey, idx: from[k], packed: pack.IsPacked(r.Data)}
				if g.packed {
					if u := unpacked(t, r.Data); !slices.Equal(u, from[k]) {
						t.Errorf("record %d holds %v, says %v", k, u, from[k])
					}
				} else if len(from[k]) != 1 || !bytes.Equal(r.Data, tt.entries[from[k][0]].Data) {
					t.Errorf("plain record %d: got %q for %v", k, r.Data, from[k])
				}
				got = append(got, g)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// incompressible is n bytes of base64-like text from a seeded generator:
// a JSON string that zstd cannot shrink by much.
func incompressible(i, n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := fmt.Appendf(nil, `{"i":%d,"pad":"`, i)
	for len(b) < n-2 {
		b = append(b, alphabet[rng.IntN(64)])
	}
	return append(b, '"', '}')
}

// TestPackLimits: every packed record holds at most pack.MaxBody of lines and
// fits a Kinesis record with its key, however large or incompressible the
// entries; an entry that packing cannot shrink goes plain.
func TestPackLimits(t *testing.T) {
	key := strings.Repeat("k", 256)
	tests := []struct {
		name      string
		entries   []Entry
		minRecs   int
		allPacked bool
	}{
		{"compressible, 5 MiB in all", func() []Entry {
			es := keyed(10<<10, slices.Repeat([]string{""}, 520)...)
			return es
		}(), 5, true},
		{"incompressible, near the limit, long key", func() []Entry {
			var es []Entry
			for i := range 6 {
				es = append(es, Entry{Data: incompressible(i, 400<<10, 1), PartitionKey: key})
			}
			return es
		}(), 3, false},
		{"one entry of almost 1 MiB, incompressible", []Entry{{Data: incompressible(0, MaxRecordBytes-300, 2), PartitionKey: key}}, 1, false},
		{"one entry of almost 1 MiB, compressible", []Entry{{Data: line(0, MaxRecordBytes-300), PartitionKey: key}}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, from := Pack(tt.entries)
			if len(recs) < tt.minRecs {
				t.Errorf("got %d records, want at least %d", len(recs), tt.minRecs)
			}
			var seen []int
			for k, r := range recs {
				if n := len(r.Data) + len(r.PartitionKey); n > MaxRecordBytes {
					t.Errorf("record %d: %d bytes with its key, over %d", k, n, MaxRecordBytes)
				}
				if !pack.IsPacked(r.Data) {
					if tt.allPacked {
						t.Errorf("record %d is plain, want packed", k)
					}
					seen = append(seen, from[k]...)
					continue
				}
				body, err := pack.Decode(nil, r.Data)
				if err != nil || len(body) > pack.MaxBody {
					t.Errorf("record %d: body of %d bytes, %v", k, len(body), err)
				}
				seen = append(seen, unpacked(t, r.Data)...)
			}
			if want := rangeInts(0, len(tt.entries)); !slices.Equal(seen, want) {
				t.Errorf("entries in records, in order: got %v, want %v", seen, want)
			}
		})
	}
}

// FuzzPack: for any entries, every entry is in exactly one record; a record
// holds AnyShard entries only or entries of one key only, in order, under
// the rule's key; records fit Kinesis; per key (and for AnyShard entries)
// the records keep the entries' order.
func FuzzPack(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 1, 3, 3, 0}, uint16(300))
	f.Add([]byte{9}, uint16(3000))
	f.Fuzz(func(t *testing.T, spec []byte, size uint16) {
		if len(spec) > 300 {
			spec = spec[:300]
		}
		entries := make([]Entry, len(spec))
		for i, c := range spec {
			n := 1 + int(size)%4096*int(c%7+1)
			entries[i] = Entry{Data: line(i, n)}
			switch {
			case c%5 == 0:
				entries[i].PartitionKey, entries[i].AnyShard = "id-"+strconv.Itoa(i), true
			case c == 255:
				entries[i].PartitionKey = "" // invalid
			default:
				entries[i].PartitionKey = "key-" + strconv.Itoa(int(c%4))
			}
		}
		recs, from := Pack(entries)
		if len(recs) != len(from) {
			t.Fatalf("%d records, %d index lists", len(recs), len(from))
		}
		count := make([]int, len(entries))
		last := map[string]int{} // per group, the last entry seen
		for k, r := range recs {
			if n := len(r.Data) + len(r.PartitionKey); n > MaxRecordBytes {
				t.Fatalf("record %d: %d bytes", k, n)
			}
			idx := from[k]
			if pack.IsPacked(r.Data) {
				if u := unpacked(t, r.Data); !slices.Equal(u, idx) {
					t.Fatalf("record %d holds %v, says %v", k, u, idx)
				}
			} else if len(idx) != 1 || !bytes.Equal(r.Data, entries[idx[0]].Data) {
				t.Fatalf("plain record %d: %v", k, idx)
			}
			first := entries[idx[0]]
			group := "key:" + first.PartitionKey
			if first.AnyShard {
				group = "any"
			}
			if r.PartitionKey != first.PartitionKey {
				t.Fatalf("record %d: key %q, want its first entry's %q", k, r.PartitionKey, first.PartitionKey)
			}
			for _, i := range idx {
				e := entries[i]
				if e.AnyShard != first.AnyShard || (!e.AnyShard && e.PartitionKey != first.PartitionKey) {
					t.Fatalf("record %d mixes entry %d (%q, any %t) with %d (%q, any %t)", k, i, e.PartitionKey, e.AnyShard, idx[0], first.PartitionKey, first.AnyShard)
				}
				if l, ok := last[group]; ok && i < l {
					t.Fatalf("group %s: entry %d after %d", group, i, l)
				}
				last[group] = i
				count[i]++
			}
		}
		for i, c := range count {
			if c != 1 {
				t.Fatalf("entry %d in %d records", i, c)
			}
		}
	})
}

// kinesisStore is a fake Kinesis that keeps what it takes. fail decides,
// per call and record, whether the record fails; callErr whether the whole
// call fails, and whether it was applied anyway (a timeout after Kinesis
// stored the records).
type kinesisStore struct {
	mu      sync.Mutex
	rng     *rand.Rand
	calls   int
	stored  [][]byte
	fail    func(rng *rand.Rand) string // error code, "" for stored
	callErr func(rng *rand.Rand) (err error, applied bool)
}

func (k *kinesisStore) client() PutRecordsFunc {
	return func(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.calls++
		if k.callErr != nil {
			if err, applied := k.callErr(k.rng); err != nil {
				if applied {
					for _, r := range in.Records {
						k.stored = append(k.stored, r.Data)
					}
				}
				return nil, err
			}
		}
		out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
		for n, r := range in.Records {
			if code := k.fail(k.rng); code != "" {
				out.Records[n] = types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("fake")}
				out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
				continue
			}
			k.stored = append(k.stored, r.Data)
			out.Records[n] = types.PutRecordsResultEntry{SequenceNumber: aws.String(strconv.Itoa(len(k.stored))), ShardId: aws.String("shardId-0")}
		}
		return out, nil
	}
}

// TestPackerNeverLoses tries to lose an envelope between the Packer and
// Kinesis: partial failures (throttling, InternalFailure) on every call, whole
// calls failing, calls that time out after Kinesis applied them, and a budget
// that runs out. Whatever happens, every entry not in Failed is in a record
// Kinesis stored, and every entry of a packed record it did not store is in
// Failed (ingest spills exactly Failed; replay keeps the object).
func TestPackerNeverLoses(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			var keys []string
			for range 1 + rng.IntN(700) {
				switch rng.IntN(4) {
				case 0, 1:
					keys = append(keys, "")
				default:
					keys = append(keys, "key-"+strconv.Itoa(rng.IntN(5)))
				}
			}
			entries := keyed(150+rng.IntN(3000), keys...)
			failRate, callRate := rng.Float64()*0.6, rng.Float64()*0.3
			k := &kinesisStore{rng: rng,
				fail: func(r *rand.Rand) string {
					switch {
					case r.Float64() >= failRate:
						return ""
					case r.IntN(2) == 0:
						return ThrottledCode
					}
					return "InternalFailure"
				},
				callErr: func(r *rand.Rand) (error, bool) {
					if r.Float64() >= callRate {
						return nil, false
					}
					return errors.New("fake: timeout"), r.IntN(2) == 0
				},
			}
			w := &Writer{Client: k.client(), StreamName: "s", Sleep: func(context.Context, time.Duration) error { return nil }}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 1 + rng.IntN(6)
			w.Client = PutRecordsFunc(func(c context.Context, in *kinesis.PutRecordsInput, o ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
				out, err := k.client()(c, in, o...)
				if k.calls >= calls {
					cancel() // the budget ends
				}
				return out, err
			})
			res := (&Packer{Next: w}).Put(ctx, entries)

			in := make([]bool, len(entries))
			for _, data := range k.stored {
				for _, i := range unpacked(t, data) {
					in[i] = true
				}
			}
			failed := make([]bool, len(entries))
			for _, i := range res.Failed {
				if i < 0 || i >= len(entries) || failed[i] {
					t.Fatalf("Failed holds %d twice or out of range: %v", i, res.Failed)
				}
				failed[i] = true
			}
			lost := 0
			for i := range entries {
				if !failed[i] && !in[i] {
					lost++
				}
			}
			if lost > 0 {
				t.Fatalf("%d entries neither stored nor reported failed (%d calls, failed %d)", lost, k.calls, len(res.Failed))
			}
			if !slices.IsSorted(res.Failed) {
				t.Errorf("Failed not sorted: %v", res.Failed)
			}
			if (len(res.Failed) > 0) != (res.Err != nil) {
				t.Errorf("got %d failed with error %v: want an error exactly when some failed", len(res.Failed), res.Err)
			}
		})
	}
}

// TestPackerFailsWholeRecord: a packed record Kinesis refuses fails every
// envelope in it, and only those.
func TestPackerFailsWholeRecord(t *testing.T) {
	entries := keyed(200, "", "a", "", "a", "b")
	recs, from := Pack(entries)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	for k := range recs {
		t.Run(fmt.Sprint(from[k]), func(t *testing.T) {
			next := PutFunc(func(_ context.Context, es []Entry) Result {
				if len(es) != len(recs) {
					t.Fatalf("got %d records, want %d", len(es), len(recs))
				}
				return Result{Failed: []int{k}, Calls: 1, Throttled: 1, Err: errors.New("throttled")}
			})
			res := (&Packer{Next: next}).Put(context.Background(), entries)
			if !slices.Equal(res.Failed, from[k]) || res.Calls != 1 || res.Throttled != 1 || res.Err == nil {
				t.Errorf("got %+v, want failed %v and Next's counts", res, from[k])
			}
		})
	}
}

// PutFunc adapts a function to Putter (fakes in tests).
type PutFunc func(ctx context.Context, entries []Entry) Result

// Put calls f.
func (f PutFunc) Put(ctx context.Context, entries []Entry) Result { return f(ctx, entries) }
