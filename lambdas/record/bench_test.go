package record

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// data200 is a 200-byte JSON payload, the size the throughput targets name.
var data200 = func() json.RawMessage {
	d := `{"device":"sensor-0042","temp":21.5,"tags":["a","b"],"note":"` + strings.Repeat("x", 200) + `"}`
	return json.RawMessage(d[:200-2] + `"}`)
}()

func benchEnvelope() Envelope {
	return Envelope{ID: "01HZX3K8V4Q9W2E5R7T6Y1Z0AP", Region: "eu-west-1",
		ReceivedAt:   time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC),
		PartitionKey: "01HZX3K8V4Q9W2E5R7T6Y1Z0AP", Encoding: EncodingJSON, Data: data200}
}

func BenchmarkAppend(b *testing.B) {
	e := benchEnvelope()
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(e.Append(nil))))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Append(buf[:0])
	}
}

func BenchmarkDecode(b *testing.B) {
	e := benchEnvelope()
	line := e.Append(nil)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIDsNew(b *testing.B) {
	g := NewIDs()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		g.New(now)
	}
}
