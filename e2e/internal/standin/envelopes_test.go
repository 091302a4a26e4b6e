package standin

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

func TestEnvelopes(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	e := func(id string) record.Envelope {
		return record.Envelope{ID: id, Region: "r", ReceivedAt: at, PartitionKey: id, Encoding: record.EncodingJSON, Data: json.RawMessage(`1`)}
	}
	a, b, c := e("a"), e("b"), e("c")
	packed, err := pack.Encode(nil, append(append(b.Append(nil), '\n'), append(c.Append(nil), '\n')...))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Envelopes([]Record{{SequenceNumber: "1", Data: a.Append(nil)}, {SequenceNumber: "2", Data: packed}})
	if err != nil || !reflect.DeepEqual(got, []record.Envelope{a, b, c}) {
		t.Fatalf("got %+v, %v, want a, b, c", got, err)
	}
	if _, err := Envelopes([]Record{{SequenceNumber: "3", Data: []byte("\x00TSP\x09\x01")}}); err == nil {
		t.Error("got no error for an unknown version, want one")
	}
}
