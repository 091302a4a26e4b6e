package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

var h10 = time.Date(2025, 3, 4, 10, 15, 0, 123e6, time.UTC)

// env returns an envelope from producer p with id id and JSON data.
func env(p, id, data string) record.Envelope {
	return record.Envelope{ID: id, Producer: p, Region: "eu-west-1", ReceivedAt: h10, PartitionKey: id,
		Encoding: record.EncodingJSON, Data: json.RawMessage(data)}
}

func canary(id string) record.Envelope {
	e := env("", id, `{"probe":"health"}`)
	e.Canary = true
	return e
}

// packed is a packed record of envelopes or raw lines (string).
type packed []any

// recsOf builds Kinesis records with sequence numbers 1, 2, ... from
// envelopes, raw data (string) or packed records.
func recsOf(items ...any) []Record {
	out := make([]Record, len(items))
	for i, it := range items {
		var data []byte
		switch v := it.(type) {
		case record.Envelope:
			data = v.Append(nil)
		case string:
			data = []byte(v)
		case packed:
			var body []byte
			for _, l := range v {
				switch l := l.(type) {
				case record.Envelope:
					body = l.Append(body)
				case string:
					body = append(body, l...)
				}
				body = append(body, '\n')
			}
			var err error
			if data, err = pack.Encode(nil, body); err != nil {
				panic(err)
			}
		default:
			panic(fmt.Sprintf("recsOf: unexpected %T", it))
		}
		out[i] = Record{ShardID: "shardId-000000000001", SequenceNumber: fmt.Sprint(i + 1), PartitionKey: "pk",
			Data: data, ArrivalTime: h10.Add(time.Minute)}
	}
	return out
}

// got is a Batch in a comparable form: items as "index:producer/id" with
// "!" for a conflict, bad records as their index.
type got struct {
	items                           []string
	bad                             []int
	canaries, duplicates, conflicts int
}

func summary(b *Batch) got {
	g := got{canaries: b.Canaries, duplicates: b.Duplicates, conflicts: b.Conflicts}
	for _, it := range b.Items {
		s := fmt.Sprintf("%d:%s/%s", it.Index, it.Envelope.Producer, it.Envelope.ID)
		if it.Conflict {
			s += "!"
		}
		g.items = append(g.items, s)
	}
	for _, bad := range b.Bad {
		g.bad = append(g.bad, bad.Index)
	}
	return g
}

func TestRead(t *testing.T) {
	a, b := env("p", "a", `{"n":1}`), env("p", "b", `{"n":2}`)
	noTime := a
	noTime.ReceivedAt = time.Time{}
	base64 := env("p", "a", `"AQ=="`)
	base64.Encoding = record.EncodingBase64
	tests := []struct {
		name string
		recs []Record
		want got
	}{
		{name: "empty", recs: nil},
		{name: "envelopes in batch order", recs: recsOf(b, a), want: got{items: []string{"0:p/b", "1:p/a"}}},
		{name: "canaries skipped", recs: recsOf(canary("k1"), a, canary("k2")), want: got{items: []string{"1:p/a"}, canaries: 2}},
		{name: "a copy later in the batch skipped", recs: recsOf(a, b, a, a), want: got{items: []string{"0:p/a", "1:p/b"}, duplicates: 2}},
		{
			name: "a copy received at another time is a copy",
			recs: recsOf(a, func() record.Envelope { e := a; e.ReceivedAt = h10.Add(time.Hour); e.Region = "us-east-1"; return e }()),
			want: got{items: []string{"0:p/a"}, duplicates: 1},
		},
		{
			name: "two producers' same id are two records",
			recs: recsOf(env("team-a", "order-1", `1`), env("team-b", "order-1", `1`), env("", "order-1", `1`)),
			want: got{items: []string{"0:team-a/order-1", "1:team-b/order-1", "2:/order-1"}},
		},
		{
			name: "same identity, other payload: kept and flagged; its copies skipped",
			recs: recsOf(a, env("p", "a", `[2]`), env("p", "a", `[3]`), env("p", "a", `[2]`), a, env("p", "a", `[3]`)),
			want: got{items: []string{"0:p/a", "1:p/a!", "2:p/a!"}, duplicates: 3, conflicts: 2},
		},
		{
			name: "same data in another encoding is another payload",
			recs: recsOf(env("p", "a", `"AQ=="`), base64),
			want: got{items: []string{"0:p/a", "1:p/a!"}, conflicts: 1},
		},
		{
			name: "bad records returned apart, in batch order",
			recs: recsOf("not json", a, `{"id":"x"}`, noTime, ""),
			want: got{items: []string{"1:p/a"}, bad: []int{0, 2, 3, 4}},
		},
		{
			name: "a bad record is no original: its copy is read",
			recs: recsOf(noTime, a),
			want: got{items: []string{"1:p/a"}, bad: []int{0}},
		},
		{
			name: "a packed record's envelopes share its index, in order",
			recs: recsOf(a, packed{b, env("p", "c", `3`), env("q", "a", `4`)}, env("p", "d", `5`)),
			want: got{items: []string{"0:p/a", "1:p/b", "1:p/c", "1:q/a", "2:p/d"}},
		},
		{
			name: "packed and plain records mixed, canaries plain or packed",
			recs: recsOf(canary("k1"), packed{a, canary("k2")}, b, packed{env("p", "c", `3`)}),
			want: got{items: []string{"1:p/a", "2:p/b", "3:p/c"}, canaries: 2},
		},
		{
			name: "copies across packed and plain records, conflicts too",
			recs: recsOf(packed{a, b}, packed{b, env("p", "a", `[9]`)}, a, packed{a}),
			want: got{items: []string{"0:p/a", "0:p/b", "1:p/a!"}, duplicates: 3, conflicts: 1},
		},
		{
			name: "a packed record's bad lines apart, its good envelopes read",
			recs: recsOf(packed{a, "not json", noTime, "", b}),
			want: got{items: []string{"0:p/a", "0:p/b"}, bad: []int{0, 0, 0}},
		},
		{
			name: "a packed record of an unknown version is one bad record",
			recs: recsOf(a, "\x00TSP\x02\x01whatever", b),
			want: got{items: []string{"0:p/a", "2:p/b"}, bad: []int{1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := Read(tt.recs)
			if g := summary(bt); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("got %+v, want %+v", g, tt.want)
			}
			checkRead(t, tt.recs, bt)
		})
	}
}

func TestReadErrors(t *testing.T) {
	noTime := env("p", "a", `1`)
	noTime.ReceivedAt = time.Time{}
	tests := []struct {
		name string
		data any
		want error
	}{
		{"no receivedAt", noTime, ErrNoReceivedAt},
		{"bad id", `{"id":"","region":"r","receivedAt":"2025-03-04T10:00:00Z","partitionKey":"p","encoding":"json","data":1}`, record.ErrID},
		{"bad base64", `{"id":"a","region":"r","receivedAt":"2025-03-04T10:00:00Z","partitionKey":"p","encoding":"base64","data":"!!"}`, record.ErrData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Read(recsOf(tt.data))
			if len(b.Bad) != 1 || !errors.Is(b.Bad[0].Err, tt.want) {
				t.Fatalf("got bad %v, want one with %v", b.Bad, tt.want)
			}
		})
	}
}

// TestReadPackedErrors: what is wrong with a packed record, or one of its
// envelopes, is in its Bad, with what could not be read.
func TestReadPackedErrors(t *testing.T) {
	good := recsOf(packed{env("p", "a", `1`)})[0].Data
	tests := []struct {
		name     string
		data     any
		want     error
		wantData string
	}{
		{"unknown version", "\x00TSP\x02\x01" + string(good[pack.HeaderLen:]), pack.ErrVersion, "\x00TSP\x02\x01" + string(good[pack.HeaderLen:])},
		{"unknown codec", "\x00TSP\x01\x09" + string(good[pack.HeaderLen:]), pack.ErrCodec, "\x00TSP\x01\x09" + string(good[pack.HeaderLen:])},
		{"truncated", string(good[:len(good)-2]), pack.ErrCorrupt, string(good[:len(good)-2])},
		{"bad line", packed{`{"id":""}`}, record.ErrID, `{"id":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Read(recsOf(tt.data))
			if len(b.Bad) != 1 || !errors.Is(b.Bad[0].Err, tt.want) || string(b.Bad[0].Data) != tt.wantData {
				t.Fatalf("got bad %+v, want one with %v and data %q", b.Bad, tt.want, tt.wantData)
			}
		})
	}
}

// TestReadKeepsNoBuffer: Items and Bad never point into the buffer packed
// bodies are unpacked into, which the next batch reuses.
func TestReadKeepsNoBuffer(t *testing.T) {
	a, bad := env("p", "a", `{"n":1}`), "not an envelope"
	b := Read(recsOf(packed{a, bad}))
	// Unpack other records into the pooled buffers.
	for range 4 {
		Read(recsOf(packed{env("p", "zzzzzzzzzzzzzzzzzzzz", `"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"`), "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}))
	}
	if len(b.Items) != 1 || !reflect.DeepEqual(b.Items[0].Envelope, a) {
		t.Errorf("got items %+v, want %+v", b.Items, a)
	}
	if len(b.Bad) != 1 || string(b.Bad[0].Data) != bad {
		t.Errorf("got bad %+v, want %q", b.Bad, bad)
	}
}

func TestFailedFrom(t *testing.T) {
	b := Read(recsOf(env("p", "a", `1`), "bad", canary("k")))
	tests := []struct {
		from int
		want []string
	}{
		{-1, []string{"1", "2", "3"}},
		{0, []string{"1", "2", "3"}},
		{1, []string{"2", "3"}},
		{2, []string{"3"}},
		{3, nil},
		{4, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.from), func(t *testing.T) {
			if got := b.FailedFrom(tt.from); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
