package stream

import (
	"context"
	"slices"

	"github.com/twinstream/twinstream/lambdas/pack"
)

// MaxRecordBytes is Kinesis' limit on a record: data blob plus partition key.
const MaxRecordBytes = 1 << 20

// BilledUnit is what Kinesis on-demand bills a record in: its size (data
// plus partition key) rounded up to the next KiB.
const BilledUnit = 1 << 10

// Putter writes entries and says which were not written; *Writer and
// *Packer are the real ones.
type Putter interface {
	Put(ctx context.Context, entries []Entry) Result
}

// Packer writes envelopes (entries whose Data is one envelope line, as
// record.Envelope.Append writes it) in packed Kinesis records (package pack),
// through Next, and reports what was not written per envelope, as Writer
// does: Result.Failed holds the indices of the entries given to Put, and a
// packed record Kinesis did not take fails every envelope in it. Calls, Err,
// Throttled and Faults are Next's, counted in Kinesis records.
//
// The partition-key rule: an entry with AnyShard set (no partition key of
// its own; ingest gave it its id) carries no wish for ordering, and the
// AnyShard entries of one Put are packed together, in order, under the first
// one's partition key. Any other entry is packed only with the entries of
// the same partition key, in order, under that key: records of one key stay
// in one shard, in their order, as unpacked. Every envelope keeps its own
// partitionKey field. A group larger than a packed record may be (pack.MaxBody
// of envelope lines, MaxRecordBytes with the key once compressed) takes
// several. An envelope alone in its group is written plain when its plain
// record bills one BilledUnit or when packing would not bill fewer; entries
// that cannot be packed (an invalid partition key, a line break or nothing
// in Data) are written plain, so Writer reports them as it always did.
type Packer struct {
	Next Putter
}

// Put packs the entries, writes them with Next, and maps Next's result back
// to the entries.
func (p *Packer) Put(ctx context.Context, entries []Entry) Result {
	recs, from := Pack(entries)
	res := p.Next.Put(ctx, recs)
	var failed []int
	for _, k := range res.Failed {
		if k >= 0 && k < len(from) {
			failed = append(failed, from[k]...)
		}
	}
	slices.Sort(failed)
	res.Failed = slices.Compact(failed)
	return res
}

// Pack returns the Kinesis records that carry the entries under the rule
// Packer documents, and for each record the indices of the entries it
// carries (ascending). Every entry is in exactly one record.
func Pack(entries []Entry) (recs []Entry, from [][]int) {
	pk := packing{entries: entries}
	// Groups in the order of their first entry: the AnyShard entries form
	// one, the others one per partition key.
	var groups [][]int
	byKey := map[string]int{}
	anyShard := -1
	for i, e := range entries {
		if !validKey(e.PartitionKey) || !packable(e.Data) {
			pk.plain(i)
			continue
		}
		g, ok := anyShard, anyShard >= 0
		if !e.AnyShard {
			g, ok = byKey[e.PartitionKey]
		}
		if !ok {
			g = len(groups)
			groups = append(groups, nil)
			if e.AnyShard {
				anyShard = g
			} else {
				byKey[e.PartitionKey] = g
			}
		}
		groups[g] = append(groups[g], i)
	}
	for _, g := range groups {
		// Chunks of at most pack.MaxBody of lines.
		start, size := 0, 0
		for j, i := range g {
			n := len(entries[i].Data) + 1
			if j > start && size+n > pack.MaxBody {
				pk.chunk(g[start:j])
				start, size = j, 0
			}
			size += n
		}
		if start < len(g) {
			pk.chunk(g[start:])
		}
	}
	// Records in the order of their first entry, so the entries of a key
	// (and the groups) go out in the order they came.
	order := make([]int, len(pk.recs))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return pk.from[a][0] - pk.from[b][0] })
	recs, from = make([]Entry, len(order)), make([][]int, len(order))
	for n, k := range order {
		recs[n], from[n] = pk.recs[k], pk.from[k]
	}
	return recs, from
}

// packable reports whether data can be a line of a packed record.
func packable(data []byte) bool {
	return len(data) > 0 && !slices.Contains(data, '\n')
}

// packing collects the records of one Pack.
type packing struct {
	entries []Entry
	recs    []Entry
	from    [][]int
	body    []byte // scratch: the lines of the chunk being packed
}

func (p *packing) plain(i int) {
	p.recs = append(p.recs, Entry{Data: p.entries[i].Data, PartitionKey: p.entries[i].PartitionKey})
	p.from = append(p.from, []int{i})
}

// chunk writes entries idx (one group, at most pack.MaxBody of lines) as one
// packed record, or as two halves when its compressed form is too large for
// a Kinesis record (data that does not compress).
func (p *packing) chunk(idx []int) {
	key := p.entries[idx[0]].PartitionKey
	plain := len(p.entries[idx[0]].Data) + len(key)
	if len(idx) == 1 && plain <= BilledUnit {
		p.plain(idx[0]) // packing cannot bill less than one unit
		return
	}
	size := 0
	for _, i := range idx {
		size += len(p.entries[i].Data) + 1
	}
	p.body = slices.Grow(p.body[:0], size)
	for _, i := range idx {
		p.body = append(append(p.body, p.entries[i].Data...), '\n')
	}
	data, err := pack.Encode(nil, p.body)
	fits := err == nil && len(data)+len(key) <= MaxRecordBytes
	if len(idx) == 1 {
		if !fits || billed(len(data)+len(key)) >= billed(plain) {
			p.plain(idx[0])
			return
		}
	} else if !fits {
		p.chunk(idx[:len(idx)/2])
		p.chunk(idx[len(idx)/2:])
		return
	}
	p.recs = append(p.recs, Entry{Data: data, PartitionKey: key})
	p.from = append(p.from, slices.Clone(idx))
}

// billed is the number of BilledUnits a record of n bytes bills.
func billed(n int) int { return (n + BilledUnit - 1) / BilledUnit }
