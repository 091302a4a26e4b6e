package drill

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// accFake is a region's front for accelerator tests: its health path answers
// from a script (then from mode), other paths answer with the region's name.
type accFake struct {
	name   string
	srv    *httptest.Server
	acc    *Accelerator
	mu     sync.Mutex
	script []string // per check: a status code, or "hang" (answers only after the client gave up)
	mode   string   // after the script
	seen   []bool   // acc.Healthy(name) as each check arrived: the verdict after the checks before it
	want   int      // close reached when this many checks arrived
	reach  chan struct{}
}

func newAccFake(t *testing.T, name string, script ...string) *accFake {
	t.Helper()
	f := &accFake{name: name, script: script, mode: "200", reach: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *accFake) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health/deep" {
		io.WriteString(w, "served by "+f.name)
		return
	}
	f.mu.Lock()
	k := len(f.seen)
	f.seen = append(f.seen, f.acc.Healthy(f.name))
	do := f.mode
	if k < len(f.script) {
		do = f.script[k]
	}
	if len(f.seen) == f.want {
		close(f.reach)
	}
	f.mu.Unlock()
	if do == "hang" {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	code, _ := strconv.Atoi(do)
	if code == http.StatusFound {
		w.Header().Set("Location", "/ok")
	}
	w.WriteHeader(code)
}

func (f *accFake) setMode(mode string) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

// accVerdicts renders verdicts as H (healthy) and U (unhealthy).
func accVerdicts(seen []bool) string {
	var b strings.Builder
	for _, h := range seen {
		if h {
			b.WriteByte('H')
		} else {
			b.WriteByte('U')
		}
	}
	return b.String()
}

func accKinds(evs []Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.Region+":"+ev.Kind)
	}
	return strings.Join(s, " ")
}

// accStart runs a until the test ends (or stop is called) and returns stop,
// which waits for Run to return.
func accStart(t *testing.T, a *Accelerator) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		a.Run(ctx)
		close(done)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func accWait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second): // a safety net, not a measure
		t.Fatalf("gave up waiting for %s", what)
	}
}

func TestAcceleratorThresholds(t *testing.T) {
	tests := []struct {
		name                 string
		unhealthy, healthy   int
		timeout              time.Duration
		script               []string
		wantVerdicts         string // verdict as each check arrives
		wantEvents           string
		wantUnhealthyDetails string
	}{
		{
			name:      "unhealthy after exactly 3 failures, healthy after exactly 2 good checks",
			unhealthy: 3, healthy: 2,
			//         1      2      3      4      5      6      7      8      9      10     11     12     13
			script: []string{"200", "503", "503", "200", "503", "500", "503", "503", "200", "503", "200", "200", "200"},
			//                 before check: 1..13, and 14
			wantVerdicts:         "HHHHHHHUUUUUHH",
			wantEvents:           "a:unhealthy a:route a:healthy a:route",
			wantUnhealthyDetails: "3 consecutive failed checks, last: 503",
		},
		{
			name:      "timeouts are failures",
			unhealthy: 2, healthy: 1, timeout: 30 * time.Millisecond,
			script:               []string{"hang", "hang", "200"},
			wantVerdicts:         "HHUH",
			wantEvents:           "a:unhealthy a:route a:healthy a:route",
			wantUnhealthyDetails: "2 consecutive failed checks",
		},
		{
			name:      "non-2xx answers are failures, redirects are not followed",
			unhealthy: 2, healthy: 1,
			script:               []string{"302", "404", "204"},
			wantVerdicts:         "HHUH",
			wantEvents:           "a:unhealthy a:route a:healthy a:route",
			wantUnhealthyDetails: "last: 404",
		},
		{
			name:      "a single failure below the threshold changes nothing",
			unhealthy: 2, healthy: 2,
			script:       []string{"503", "200", "503", "200"},
			wantVerdicts: "HHHHH",
			wantEvents:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAccFake(t, "a", tt.script...)
			f.want = len(tt.wantVerdicts)
			a := &Accelerator{
				Endpoints: []Endpoint{{Region: "a", URL: f.srv.URL}},
				Check: HealthCheck{Path: "/health/deep", Interval: 20 * time.Millisecond, Timeout: tt.timeout,
					HealthyThreshold: tt.healthy, UnhealthyThreshold: tt.unhealthy},
			}
			if tt.timeout == 0 {
				a.Check.Timeout = 2 * time.Second
			} else {
				a.Check.Interval = 50 * time.Millisecond
			}
			f.acc = a
			a.Handler([]string{"a"}) // so route events list a preference
			stop := accStart(t, a)
			accWait(t, f.reach, "health checks")
			stop()

			f.mu.Lock()
			got := accVerdicts(f.seen[:len(tt.wantVerdicts)])
			f.mu.Unlock()
			if got != tt.wantVerdicts {
				t.Errorf("verdicts as checks arrived: got %s, want %s", got, tt.wantVerdicts)
			}
			evs := a.Events()
			if got := accKinds(evs); got != tt.wantEvents {
				t.Fatalf("events: got %q, want %q", got, tt.wantEvents)
			}
			if tt.wantUnhealthyDetails != "" && !strings.Contains(evs[0].Detail, tt.wantUnhealthyDetails) {
				t.Errorf("unhealthy detail: got %q, want it to contain %q", evs[0].Detail, tt.wantUnhealthyDetails)
			}
			for i := 1; i < len(evs); i++ {
				if evs[i].At.Before(evs[i-1].At) {
					t.Errorf("event %d at %v is before event %d at %v", i, evs[i].At, i-1, evs[i-1].At)
				}
			}
			if len(evs) == 4 {
				if !strings.HasPrefix(evs[1].Detail, RouteOut) || !strings.HasPrefix(evs[3].Detail, RouteIn) {
					t.Errorf("route details: got %q, %q, want %q..., %q...", evs[1].Detail, evs[3].Detail, RouteOut, RouteIn)
				}
			}
		})
	}
}

// accGet sends one request through h and returns the region header and body.
func accGet(t *testing.T, h http.Handler) (string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/records", strings.NewReader("{}")))
	return rec.Header().Get(HeaderRegion), rec.Body.String()
}

func TestAcceleratorRouting(t *testing.T) {
	fa, fb := newAccFake(t, "a"), newAccFake(t, "b")
	events := make(chan Event, 100)
	a := &Accelerator{
		Endpoints: []Endpoint{{Region: "a", URL: fa.srv.URL}, {Region: "b", URL: fb.srv.URL}},
		Check: HealthCheck{Path: "/health/deep", Interval: 20 * time.Millisecond, Timeout: time.Second,
			HealthyThreshold: 1, UnhealthyThreshold: 1},
		onEvent: func(ev Event) { events <- ev },
	}
	fa.acc, fb.acc = a, a
	east, west := a.Handler([]string{"a", "b"}), a.Handler([]string{"b", "a"})

	// waitRoute waits for the route event of region with the given direction.
	waitRoute := func(region, dir string) {
		t.Helper()
		deadline := time.After(20 * time.Second) // a safety net, not a measure
		for {
			select {
			case ev := <-events:
				if ev.Kind == EventRoute && ev.Region == region && strings.HasPrefix(ev.Detail, dir) {
					return
				}
			case <-deadline:
				t.Fatalf("gave up waiting for route %s %s; events %q", region, dir, accKinds(a.Events()))
			}
		}
	}

	steps := []struct {
		name            string
		act             func() // then wait for the route event below
		region, dir     string
		wantEast        string // region serving preference [a b]
		wantWest        string // region serving preference [b a]
		wantOpenEast    bool
		wantOpenWest    bool
		wantDetailParts []string
	}{
		{name: "all healthy at start: nearest region", wantEast: "a", wantWest: "b"},
		{name: "a unhealthy: both locations go to b", act: func() { fa.setMode("503") }, region: "a", dir: RouteOut,
			wantEast: "b", wantWest: "b", wantDetailParts: []string{"[a b] -> b", "[b a] -> b"}},
		{name: "both unhealthy: each fails open to its first preference", act: func() { fb.setMode("503") }, region: "b", dir: RouteOut,
			wantEast: "a", wantWest: "b", wantOpenEast: true, wantOpenWest: true, wantDetailParts: []string{"[a b] -> a (fail open)"}},
		{name: "a healthy again: both locations go to a", act: func() { fa.setMode("200") }, region: "a", dir: RouteIn,
			wantEast: "a", wantWest: "a"},
		{name: "b healthy again: nearest region", act: func() { fb.setMode("200") }, region: "b", dir: RouteIn,
			wantEast: "a", wantWest: "b"},
	}
	accStart(t, a)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.act != nil {
				st.act()
				waitRoute(st.region, st.dir)
			}
			for _, c := range []struct {
				loc      string
				h        http.Handler
				pref     []string
				want     string
				wantOpen bool
			}{{"east", east, []string{"a", "b"}, st.wantEast, st.wantOpenEast}, {"west", west, []string{"b", "a"}, st.wantWest, st.wantOpenWest}} {
				region, body := accGet(t, c.h)
				if region != c.want || body != "served by "+c.want {
					t.Errorf("%s: got header %q body %q, want region %q", c.loc, region, body, c.want)
				}
				if got, open := a.Route(c.pref); got != c.want || open != c.wantOpen {
					t.Errorf("%s: Route got %q fail open %v, want %q %v", c.loc, got, open, c.want, c.wantOpen)
				}
			}
			if len(st.wantDetailParts) > 0 {
				evs := a.Events()
				last := evs[len(evs)-1]
				for _, part := range st.wantDetailParts {
					if !strings.Contains(last.Detail, part) {
						t.Errorf("route detail: got %q, want it to contain %q", last.Detail, part)
					}
				}
			}
		})
	}
}

func TestAcceleratorMoveDelay(t *testing.T) {
	tests := []struct {
		name       string
		delay      time.Duration
		script     []string
		mode       string // after the script
		wantEvents string
		wantChecks int // wait for this many checks before stopping (0: for the last event)
	}{
		{name: "routing follows only after the delay", delay: 100 * time.Millisecond, mode: "503",
			wantEvents: "a:unhealthy a:route"},
		{name: "the delay counts from the last change", delay: 150 * time.Millisecond,
			script: []string{"503", "200"}, mode: "503", wantEvents: "a:unhealthy a:healthy a:unhealthy a:route"},
		{name: "a change undone within the delay never moves traffic", delay: time.Hour,
			script: []string{"503", "200"}, mode: "200", wantEvents: "a:unhealthy a:healthy", wantChecks: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa, fb := newAccFake(t, "a", tt.script...), newAccFake(t, "b")
			fa.mode, fa.want = tt.mode, tt.wantChecks
			var mu sync.Mutex
			var atVerdict []string // where [a b] went as each health event was recorded
			routed := make(chan struct{}, 10)
			a := &Accelerator{
				Endpoints: []Endpoint{{Region: "a", URL: fa.srv.URL}, {Region: "b", URL: fb.srv.URL}},
				Check: HealthCheck{Path: "/health/deep", Interval: 20 * time.Millisecond, Timeout: time.Second,
					HealthyThreshold: 1, UnhealthyThreshold: 1},
				MoveDelay: tt.delay,
			}
			a.onEvent = func(ev Event) {
				if ev.Kind == EventRoute {
					routed <- struct{}{}
					return
				}
				r, _ := a.Route([]string{"a", "b"})
				mu.Lock()
				atVerdict = append(atVerdict, r)
				mu.Unlock()
			}
			fa.acc, fb.acc = a, a
			h := a.Handler([]string{"a", "b"})
			stop := accStart(t, a)
			if tt.wantChecks > 0 {
				accWait(t, fa.reach, "health checks")
			} else {
				accWait(t, routed, "the route event")
			}
			if region, _ := accGet(t, h); tt.wantChecks > 0 && region != "a" {
				t.Errorf("after the undone change: got region %q, want a", region)
			} else if tt.wantChecks == 0 && region != "b" {
				t.Errorf("after the move: got region %q, want b", region)
			}
			stop()

			evs := a.Events()
			if got := accKinds(evs); got != tt.wantEvents {
				t.Fatalf("events: got %q, want %q", got, tt.wantEvents)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, r := range atVerdict {
				if r != "a" {
					t.Errorf("health event %d: traffic already at %q, want still at a", i, r)
				}
			}
			if last := len(evs) - 1; evs[last].Kind == EventRoute {
				// Timers never fire early, so this bound cannot flake.
				if gap := evs[last].At.Sub(evs[last-1].At); gap < tt.delay {
					t.Errorf("route event %v after the last verdict, want at least %v", gap, tt.delay)
				}
			}
		})
	}
}

func TestAcceleratorHeaderOnProxyError(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	a := &Accelerator{Endpoints: []Endpoint{{Region: "gone", URL: url}}}
	rec := httptest.NewRecorder()
	a.Handler([]string{"gone"}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/records", nil))
	if rec.Code != http.StatusBadGateway || rec.Header().Get(HeaderRegion) != "gone" {
		t.Errorf("got %d with region %q, want 502 with region gone", rec.Code, rec.Header().Get(HeaderRegion))
	}
}

func TestAcceleratorHandlerSetupErrors(t *testing.T) {
	a := &Accelerator{Endpoints: []Endpoint{{Region: "a", URL: "http://127.0.0.1:1"}, {Region: "bad", URL: "::"}}}
	tests := []struct {
		name string
		pref []string
	}{
		{"empty preference", nil},
		{"unknown region", []string{"a", "nowhere"}},
		{"endpoint without a valid URL", []string{"bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler(%q) did not panic, want a panic", tt.pref)
				}
			}()
			a.Handler(tt.pref)
		})
	}
	if a.Healthy("nowhere") {
		t.Errorf("Healthy(nowhere): got true, want false")
	}
	if !a.Healthy("a") {
		t.Errorf("Healthy(a) before any check: got false, want true")
	}
}
