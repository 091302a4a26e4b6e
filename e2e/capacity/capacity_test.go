package capacity

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/capacity.md from the model")

// docPath is docs/capacity.md at the repository's root.
var docPath = filepath.Join("..", "..", "docs", "capacity.md")

// TestCapacityDoc keeps docs/capacity.md what the model computes from
// DefaultInputs: a figure changed in inputs.go, or a change of the model or
// of the envelope's size, fails here until the document is rewritten.
func TestCapacityDoc(t *testing.T) {
	want := Render(DefaultInputs())
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v: write it with: cd e2e && go test -run TestCapacityDoc ./capacity -update", err)
	}
	if string(got) == want {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("docs/capacity.md is stale (line %d):\n got: %s\nwant: %s\nrewrite it with: cd e2e && go test -run TestCapacityDoc ./capacity -update", i+1, g, w)
		}
	}
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

func TestFlow(t *testing.T) {
	in := DefaultInputs()
	env := func(size int) float64 { return float64(size) + in.EnvelopeOverhead.Value }
	h, r := in.PackHeaderBytes.Value, in.PackRatio.Value
	tests := []struct {
		name       string
		in         Inputs
		size       int
		packed     bool
		perRequest int
		kinesis    float64 // Kinesis records per record
		sent       float64
		billed     float64
	}{
		{name: "200 B unpacked: one 1 KiB record each", in: in, size: 200, perRequest: 100,
			kinesis: 1, sent: env(200) + 26, billed: 1024},
		{name: "2,000 B unpacked: 3 KiB", in: in, size: 2000, perRequest: 100, kinesis: 1, sent: env(2000) + 26, billed: 3072},
		{name: "20,000 B unpacked: 49 fit the ALB's 1 MB body", in: in, size: 20000, perRequest: 49, kinesis: 1, sent: env(20000) + 26, billed: 20480},
		{name: "200 B packed: the request's 100 in one record", in: in, size: 200, packed: true, perRequest: 100, kinesis: 0.01,
			// 6 + 100 x 386 x 0.11 = 4,252 bytes + the 26-byte key: 5 KiB for 100 records.
			sent: (h + 100*env(200)*r + 26) / 100, billed: ceilTo(h+100*env(200)*r+26, 1024) / 100},
		{name: "a body over the cap is split", in: with(in, func(in *Inputs) { in.PackMaxBytes.Value = 2000 }), size: 200, packed: true,
			perRequest: 100, kinesis: 0.20,
			// 100 lines of 387 bytes in bodies of at most 2,000: 20 records.
			sent: (20*h + 100*env(200)*r + 20*26) / 100, billed: 20 * ceilTo((20*h+100*env(200)*r)/20+26, 1024) / 100},
		{name: "batch size lowered", in: with(in, func(in *Inputs) { in.BatchSize.Value = 10 }), size: 200, packed: true, perRequest: 10, kinesis: 0.1,
			sent: (h + 10*env(200)*r + 26) / 10, billed: 1024.0 / 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.in.Flow(tt.size, tt.packed)
			if f.PerRequest != tt.perRequest || !near(f.KinesisRecords, tt.kinesis) || !near(f.SentBytes, tt.sent) || !near(f.BilledBytes, tt.billed) {
				t.Errorf("got per request %d, Kinesis records %v, sent %v, billed %v; want %d, %v, %v, %v",
					f.PerRequest, f.KinesisRecords, f.SentBytes, f.BilledBytes, tt.perRequest, tt.kinesis, tt.sent, tt.billed)
			}
			if f.IngestSeconds <= tt.in.IngestWaitSec.Value {
				t.Errorf("ingest invocation: got %v s, want more than the %v s wait (its CPU)", f.IngestSeconds, tt.in.IngestWaitSec.Value)
			}
		})
	}
	if p, u := in.Flow(200, true), in.Flow(200, false); p.IngestSeconds <= u.IngestSeconds {
		t.Errorf("packing costs ingest CPU: got %v s packed, %v s unpacked, want packed longer", p.IngestSeconds, u.IngestSeconds)
	}
}

// with returns a copy of in changed by f.
func with(in Inputs, f func(*Inputs)) Inputs {
	f(&in)
	return in
}

func TestStream(t *testing.T) {
	in := DefaultInputs()
	off, on := in.Flow(200, false), in.Flow(200, true)
	tests := []struct {
		name     string
		f        Flow
		capacity float64
		want     float64
	}{
		{"new stream, unpacked: 4 shards x 1,000 records/s", off, in.OnDemandStartBytes.Value, 4000},
		{"new stream, packed: 4 MiB/s of packed bytes", on, in.OnDemandStartBytes.Value, 4 * (1 << 20) / on.SentBytes},
		{"part of a shard counts for nothing", off, 1.5 * (1 << 20), 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := in.StreamLimit(tt.f, tt.capacity); !near(got, tt.want) {
				t.Errorf("got %v records/s, want %v", got, tt.want)
			}
		})
	}
	if got := in.Shards(off, 10); got != 4 {
		t.Errorf("shards at 10 records/s: got %v, want a new stream's 4", got)
	}
	if got := in.Shards(off, 9500); got != 10 {
		t.Errorf("shards at 9,500 unpacked records/s: got %v, want 10 (records per shard)", got)
	}
}

func TestSustainable(t *testing.T) {
	in := DefaultInputs()
	tests := []struct {
		name string
		in   Inputs
		want string
	}{
		{"defaults: ingest's reserved concurrency", in, "ingest Lambda"},
		{"a stream that scales to 8 MB/s", with(in, func(in *Inputs) { in.OnDemandMaxBytes.Value = 8 << 20 }), "Kinesis, scaled"},
		{"a slow processor", with(in, func(in *Inputs) { in.ProcessorPerCore.Value = 1; in.SinkPutSec.Value = 1 }), "processor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.in.Flow(200, false)
			got := tt.in.Sustainable(f)
			if got.Component != tt.want {
				t.Fatalf("got %s (%v records/s), want %s", got.Component, got.Rate, tt.want)
			}
			for _, l := range tt.in.Limits(f) {
				if l.Component != "Kinesis, new stream" && l.Component != "Kinesis, scaled (other regions)" && l.Rate < got.Rate {
					t.Errorf("%s takes %v records/s, below the sustainable %v", l.Component, l.Rate, got.Rate)
				}
			}
		})
	}
}

func TestNeeds(t *testing.T) {
	in := DefaultInputs()
	over := func(needs []Need) []string {
		var out []string
		for _, n := range needs {
			if n.Over() {
				out = append(out, n.Component)
			}
		}
		return out
	}
	f := in.Flow(200, true)
	if got := over(in.Needs(f, in.RefRate.Value)); len(got) != 0 {
		t.Errorf("at the drill's rate: got %v over their defaults, want none", got)
	}
	s := in.Sustainable(f)
	got := over(in.Needs(f, s.Rate*1.01))
	if len(got) == 0 || got[0] != "ingest reserved concurrency" {
		t.Errorf("just past the sustainable rate (limit %s): got %v over, want ingest reserved concurrency first", s.Component, got)
	}
	// One spill object per request of 100 records, 3,500 PUT/s per
	// partition, SpillPrefixes partitions.
	limit := 3500 * in.SpillPrefixes.Value * 100
	if got := over(in.Needs(f, limit*0.99)); slices.Contains(got, "spill PUTs while Kinesis is down") {
		t.Errorf("at %.0f records/s in requests of 100: got %v over, want the spill within %v partitions' PUT/s", limit*0.99, got, in.SpillPrefixes.Value)
	}
	if got := over(in.Needs(f, limit*1.01)); !slices.Contains(got, "spill PUTs while Kinesis is down") {
		t.Errorf("at %.0f records/s in requests of 100: got %v over, want the spill's %v x 3,500 PUT/s", limit*1.01, got, in.SpillPrefixes.Value)
	}
}

func TestCosts(t *testing.T) {
	in := DefaultInputs()
	line := func(c Costs, name string) float64 {
		for _, l := range c.Lines {
			if l.Component == name {
				return l.Dollars
			}
		}
		t.Fatalf("no %s line", name)
		return 0
	}
	off := in.Costs(in.Flow(200, false), in.RefRate.Value)
	// 10^6 records of 1 KiB at $0.08 per GiB.
	if got, want := line(off, "Kinesis data in"), 1e6*1024/float64(1<<30)*0.08; !near(got, want) {
		t.Errorf("Kinesis data in, 200 B unpacked: got %v, want %v", got, want)
	}
	// 10,000 requests at $0.60 per million.
	if got := line(off, "WAF"); !near(got, 0.006) {
		t.Errorf("WAF: got %v, want 0.006", got)
	}
	on := in.Costs(in.Flow(200, true), in.RefRate.Value)
	if on.Total() >= off.Total() || line(on, "Kinesis data in") >= line(off, "Kinesis data in")/10 {
		t.Errorf("packing: got total %v and Kinesis in %v, want less than unpacked's %v and a tenth of its %v",
			on.Total(), line(on, "Kinesis data in"), off.Total(), line(off, "Kinesis data in"))
	}
	if got := in.PerMillionAt([]Line{{Dollars: 730 * 2 * 3600 * 1e-6}}, 1); !near(got, 1) {
		t.Errorf("fixed cost spread: got %v, want 1", got)
	}
}

func TestFigures(t *testing.T) {
	for _, f := range DefaultInputs().List() {
		t.Run(f.What, func(t *testing.T) {
			if f.What == "" || f.Source == "" || f.Value <= 0 {
				t.Fatalf("got %+v, want what it is, a source and a positive value", f)
			}
			switch f.Kind {
			case Quota, Price:
				if !strings.HasPrefix(f.Source, "https://") {
					t.Errorf("%s: source %q, want the URL it was read from", f.Kind, f.Source)
				}
			case Assumed:
				if strings.HasPrefix(f.Source, "https://") {
					t.Errorf("assumed, with a bare URL as source %q: say why it is assumed", f.Source)
				}
			case Placeholder:
				if !strings.HasPrefix(f.Source, "replace") {
					t.Errorf("placeholder with source %q, want what replaces it", f.Source)
				}
			}
			if f.Via != "" && f.Kind != Price {
				t.Errorf("a transcription for a %s", f.Kind)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{num(1234567), "1,234,567"},
		{num(999.6), "1,000"},
		{num(1.234), "1.23"},
		{num(12.34), "12.3"},
		{num(math.Inf(1)), "no limit"},
		{num3(0.0012345), "0.00123"},
		{num3(123.45), "123"},
		{rate(396800), "397k"},
		{rate(12.3e6), "12.3M"},
		{rate(4000), "4,000"},
		{money(0.0052), "$0.00520"},
		{money(3.5), "$3.50"},
		{money(1234.5), "$1,235"},
		{dur(0.0504), "50.4 ms"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
