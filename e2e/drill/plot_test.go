package drill

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var plT0 = time.Date(2020, 11, 25, 13, 0, 0, 0, time.UTC)

func plAt(s float64) time.Time { return plT0.Add(time.Duration(s * float64(time.Second))) }

func TestBuildTimeline(t *testing.T) {
	acks := map[string]Ack{
		"early": {Region: "a", At: plT0.Add(-time.Second)}, // before start: left out
		"1":     {Region: "a", At: plAt(0.5)},
		"2":     {Region: "a", At: plAt(1.2), Spilled: true},
		"3":     {Region: "b", At: plAt(1.9)},
		"4":     {Region: "", At: plAt(3.0)},
		"5":     {Region: "c", At: plAt(0)},
	}
	events := []Event{
		{At: plAt(1), Region: "a", Kind: EventUnhealthy},
		{At: plAt(1.5), Region: "a", Kind: EventRoute, Detail: "out: [a b] -> b"},
		{At: plAt(4.5), Region: "a", Kind: EventRoute, Detail: "in: [a b] -> a"},
	}
	tl := BuildTimeline(plT0, time.Second, []string{"b", "a"}, acks, events)
	if want := []string{"b", "a", "c", "unknown"}; !slices.Equal(tl.Regions, want) {
		t.Errorf("regions: got %q, want %q", tl.Regions, want)
	}
	tests := []struct {
		region            string
		accepted, spilled []int
	}{
		{"a", []int{1, 1, 0, 0, 0}, []int{0, 1, 0, 0, 0}},
		{"b", []int{0, 1, 0, 0, 0}, []int{0, 0, 0, 0, 0}},
		{"c", []int{1, 0, 0, 0, 0}, []int{0, 0, 0, 0, 0}},
		{"unknown", []int{0, 0, 0, 1, 0}, []int{0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			if got := tl.Accepted[tt.region]; !slices.Equal(got, tt.accepted) {
				t.Errorf("accepted: got %v, want %v", got, tt.accepted)
			}
			if got := tl.Spilled[tt.region]; !slices.Equal(got, tt.spilled) {
				t.Errorf("spilled: got %v, want %v", got, tt.spilled)
			}
		})
	}
	if !tl.MovedAt.Equal(plAt(1.5)) {
		t.Errorf("MovedAt: got %v, want the first route-out event at %v", tl.MovedAt, plAt(1.5))
	}
}

func TestAddFailures(t *testing.T) {
	acks := map[string]Ack{"1": {Region: "a", At: plAt(0.5)}, "2": {Region: "b", At: plAt(1.5)}}
	tl := BuildTimeline(plT0, time.Second, []string{"a", "b"}, acks, nil)
	tl.AddFailures([]Failure{
		{Region: "a", At: plAt(0.2), Records: 10},
		{Region: "a", At: plAt(0.7), Records: 4},
		{Region: "", At: plAt(3.1), Records: 10},               // no answer: unknown, and a longer timeline
		{Region: "b", At: plT0.Add(-time.Second), Records: 10}, // before start: left out
	})
	if want := []string{"a", "b", "unknown"}; !slices.Equal(tl.Regions, want) {
		t.Errorf("regions: got %q, want %q", tl.Regions, want)
	}
	for _, tt := range []struct {
		region           string
		failed, accepted []int
	}{
		{"a", []int{14, 0, 0, 0}, []int{1, 0, 0, 0}},
		{"b", []int{0, 0, 0, 0}, []int{0, 1, 0, 0}},
		{"unknown", []int{0, 0, 0, 10}, []int{0, 0, 0, 0}},
	} {
		if got := tl.Failed[tt.region]; !slices.Equal(got, tt.failed) {
			t.Errorf("%s failed: got %v, want %v", tt.region, got, tt.failed)
		}
		if got := tl.Accepted[tt.region]; !slices.Equal(got, tt.accepted) {
			t.Errorf("%s accepted: got %v, want %v (same length as failed)", tt.region, got, tt.accepted)
		}
	}
}

// plExample is a drill-like timeline: a fails at 15 s, b takes over.
func plExample() *Timeline {
	acks := map[string]Ack{}
	n := 0
	add := func(region string, s float64, spilled bool) {
		n++
		acks["id-"+strconv.Itoa(n)] = Ack{Region: region, At: plAt(s), Spilled: spilled}
	}
	for i := range 600 {
		s := float64(i) / 10
		switch {
		case s < 15:
			add("us-east-1", s, false)
		case s < 19:
			add("us-east-1", s, true)
		default:
			add("us-west-2", s, false)
		}
		add("us-west-2", s+0.05, false)
	}
	events := []Event{
		{At: plAt(18.2), Region: "us-east-1", Kind: EventUnhealthy},
		{At: plAt(19), Region: "us-east-1", Kind: EventRoute, Detail: "out: [us-east-1 us-west-2] -> us-west-2"},
		{At: plAt(38), Region: "us-east-1", Kind: EventHealthy},
		{At: plAt(38), Region: "us-east-1", Kind: EventRoute, Detail: "in: [us-east-1 us-west-2] -> us-east-1"},
	}
	tl := BuildTimeline(plT0, time.Second, []string{"us-east-1", "us-west-2"}, acks, events)
	tl.FailureAt, tl.RecoveryAt, tl.DrainedAt = plAt(15), plAt(35), plAt(47.5)
	return tl
}

func TestWriteSVG(t *testing.T) {
	tests := []struct {
		name    string
		tl      func() *Timeline
		want    []string
		wantNot []string
	}{
		{
			name: "drill",
			tl:   plExample,
			want: []string{"us-east-1", "us-west-2", "Kinesis failure 15.0s", "us-east-1 unhealthy 18.2s",
				"traffic moved 19.0s", "Kinesis back 35.0s", "spill drained 47.5s", "traffic back 38.0s", "seconds since start", "records/s",
				`width="1000"`, "stroke-dasharray", `<polygon fill="#1f77b4" fill-opacity="0.3"`, "us-east-1 spilled records/s"},
		},
		{
			name: "failed requests and the fault's labels",
			tl: func() *Timeline {
				tl := plExample()
				tl.AddFailures([]Failure{{Region: "us-east-1", At: plAt(16), Status: 503, Records: 10}})
				tl.FailureLabel, tl.RecoveryLabel = "sink bucket fails", "sink bucket back"
				return tl
			},
			want:    []string{"us-east-1 records in failed requests/s", "sink bucket fails 15.0s", "sink bucket back 35.0s", `stroke-dasharray="1 3"`},
			wantNot: []string{"Kinesis failure", "Kinesis back"},
		},
		{
			name:    "no failed requests, no such series",
			tl:      plExample,
			wantNot: []string{"failed requests", `stroke-dasharray="1 3"`},
		},
		{
			name: "names are escaped",
			tl: func() *Timeline {
				tl := BuildTimeline(plT0, 500*time.Millisecond, []string{`a<b&"c"`}, map[string]Ack{"x": {Region: `a<b&"c"`, At: plAt(1)}},
					[]Event{{At: plAt(2), Region: `a<b&"c"`, Kind: EventUnhealthy}})
				tl.Title = "drill <&>"
				return tl
			},
			want:    []string{"a&lt;b&amp;", "drill &lt;&amp;&gt;"},
			wantNot: []string{"a<b"},
		},
		{
			name:    "empty timeline",
			tl:      func() *Timeline { return BuildTimeline(plT0, 0, nil, nil, nil) },
			want:    []string{"seconds since start"},
			wantNot: []string{"NaN", "Inf"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := tt.tl().WriteSVG(&first); err != nil {
				t.Fatalf("WriteSVG: %v", err)
			}
			// A rebuilt timeline (maps filled in another order) gives the same bytes.
			if err := tt.tl().WriteSVG(&second); err != nil {
				t.Fatalf("WriteSVG: %v", err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Errorf("two renderings of the same timeline differ")
			}
			out := first.String()
			dec := xml.NewDecoder(strings.NewReader(out))
			root := ""
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("not XML: %v\n%s", err, out)
				}
				if se, ok := tok.(xml.StartElement); ok && root == "" {
					root = se.Name.Local
				}
			}
			if root != "svg" {
				t.Errorf("root element: got %q, want svg", root)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("SVG lacks %q", w)
				}
			}
			// Self-contained: nothing fetched, nothing run.
			for _, w := range append(tt.wantNot, "<script", "href", "@import", "url(", "NaN") {
				if strings.Contains(out, w) {
					t.Errorf("SVG contains %q", w)
				}
			}
		})
	}
}

type plFailWriter struct{}

func (plFailWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteSVGError(t *testing.T) {
	if err := plExample().WriteSVG(plFailWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("got %v, want the writer's error", err)
	}
}

func TestBackAt(t *testing.T) {
	out := func(s float64, region string) Event {
		return Event{At: plAt(s), Region: region, Kind: EventRoute, Detail: RouteOut + ": [a b] -> b"}
	}
	in := func(s float64, region string) Event {
		return Event{At: plAt(s), Region: region, Kind: EventRoute, Detail: RouteIn + ": [a b] -> a"}
	}
	tests := []struct {
		name   string
		moved  float64 // 0: never
		events []Event
		want   float64 // 0: never
	}{
		{"never moved", 0, []Event{in(5, "a")}, 0},
		{"moved, not back", 2, []Event{out(2, "a")}, 0},
		{"moved and back", 2, []Event{out(2, "a"), {At: plAt(3), Region: "a", Kind: EventHealthy}, in(9, "a")}, 9},
		{"another region back is not it", 2, []Event{out(2, "a"), in(4, "b")}, 0},
		{"back before the move does not count", 2, []Event{in(1, "a"), out(2, "a")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := &Timeline{Start: plT0, Health: tt.events}
			if tt.moved > 0 {
				tl.MovedAt = plAt(tt.moved)
			}
			want := time.Time{}
			if tt.want > 0 {
				want = plAt(tt.want)
			}
			if got := tl.backAt(); !got.Equal(want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
