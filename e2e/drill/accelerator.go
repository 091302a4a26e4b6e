package drill

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// HeaderRegion is the response header naming the region that served a
// request through the Accelerator.
const HeaderRegion = "X-Twinstream-Region"

// Event kinds recorded by the Accelerator.
const (
	EventUnhealthy = "unhealthy"
	EventHealthy   = "healthy"
	EventRoute     = "route"
)

// Route event details start with one of these: the region left or rejoined
// the set that receives traffic.
const (
	RouteOut = "out"
	RouteIn  = "in"
)

// Endpoint is one region's entry point: its local ALB front.
type Endpoint struct {
	Region string
	URL    string
}

// Event is one change the Accelerator saw or made.
//
// For "unhealthy" and "healthy", Region is the region whose health-check
// verdict changed. For "route", Region is the region that left (Detail
// starts with "out") or rejoined (Detail starts with "in") the set that gets
// traffic; Detail then lists where each preference list now goes. A route
// event follows its health event after MoveDelay.
type Event struct {
	At     time.Time
	Region string
	Kind   string
	Detail string
}

// Accelerator is a TEST HARNESS standing in for AWS Global Accelerator in the
// outage drill; it is not Global Accelerator. Like GA with ALB endpoints, it
// judges each region by health checks on the region-health target group's
// path with that group's interval, timeout and thresholds (the drill passes
// the values read from the synthesized template), sends each producer
// location to the first healthy region in its preference order, and fails
// open to the first preference when none is healthy.
//
// Unlike GA it acts on a health change at once unless MoveDelay is set: GA
// takes about 30 s to move traffic after the ALB reports unhealthy. Set the
// fields before Run or Handler; the methods are safe for concurrent use.
type Accelerator struct {
	Endpoints []Endpoint
	// Check is the health check: Path (default "/"), Interval (default
	// 10 s), Timeout (default and maximum Interval), thresholds (default 1).
	Check HealthCheck
	// MoveDelay is how long after a health change routing follows it
	// (default 0: at once). It counts from the latest change: a change
	// undone within the delay never moves traffic.
	MoveDelay time.Duration
	Log       *slog.Logger     // nil: no logs
	Now       func() time.Time // nil: time.Now

	once  sync.Once
	mu    sync.Mutex
	state map[string]*accRegion
	prefs [][]string // preference lists of the handlers, for route details
	evs   []Event
	done  bool // Run has returned: pending moves are dropped
	// onEvent, when set (tests), is called with every event, outside mu.
	onEvent func(Event)
}

// accRegion is one endpoint's health state.
type accRegion struct {
	ep       Endpoint
	proxy    *httputil.ReverseProxy
	healthy  bool // the health-check verdict
	routed   bool // the verdict routing uses: healthy, MoveDelay later
	oks      int  // consecutive good checks while unhealthy
	fails    int  // consecutive failed checks while healthy
	gen      int  // counts verdict changes, so a stale delayed move is dropped
	pendings []*time.Timer
}

func (a *Accelerator) init() {
	a.once.Do(func() {
		a.state = make(map[string]*accRegion, len(a.Endpoints))
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		for _, ep := range a.Endpoints {
			r := &accRegion{ep: ep, healthy: true, routed: true}
			if u, err := url.Parse(ep.URL); err == nil && u.Host != "" {
				r.proxy = &httputil.ReverseProxy{
					Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
					Transport: tr,
					ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
						a.log().Warn("accelerator: proxy", "region", ep.Region, "err", err)
						w.WriteHeader(http.StatusBadGateway)
					},
				}
			}
			a.state[ep.Region] = r
		}
	})
}

func (a *Accelerator) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Accelerator) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// check returns the health check with defaults applied.
func (a *Accelerator) check() HealthCheck {
	c := a.Check
	if c.Path == "" {
		c.Path = "/"
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.Timeout <= 0 || c.Timeout > c.Interval {
		c.Timeout = c.Interval
	}
	c.HealthyThreshold = max(c.HealthyThreshold, 1)
	c.UnhealthyThreshold = max(c.UnhealthyThreshold, 1)
	return c
}

// Run health-checks every endpoint until ctx ends: the first check at once,
// then one every Check.Interval (a check never overlaps the previous one).
// An endpoint turns unhealthy after UnhealthyThreshold consecutive failed
// checks (transport error, timeout or a non-2xx answer) and healthy again
// after HealthyThreshold consecutive good ones. Call Run once.
func (a *Accelerator) Run(ctx context.Context) {
	a.init()
	c := a.check()
	client := &http.Client{
		Timeout: c.Timeout,
		// A health check judges the answer it gets, not a redirect's target.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var wg sync.WaitGroup
	for _, ep := range a.Endpoints {
		wg.Go(func() { a.probeLoop(ctx, client, c, ep) })
	}
	wg.Wait()
	// Moves still pending when the harness stops never happen.
	a.mu.Lock()
	a.done = true
	for _, r := range a.state {
		for _, t := range r.pendings {
			t.Stop()
		}
		r.pendings = nil
	}
	a.mu.Unlock()
}

func (a *Accelerator) probeLoop(ctx context.Context, client *http.Client, c HealthCheck, ep Endpoint) {
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	target := strings.TrimSuffix(ep.URL, "/") + c.Path
	for {
		ok, why := accProbe(ctx, client, c.Timeout, target)
		if ctx.Err() != nil {
			return // a check cut short by the end of the run says nothing
		}
		a.observe(ep.Region, ok, why, c)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// accProbe runs one health check and says whether it passed and why not.
func accProbe(ctx context.Context, client *http.Client, timeout time.Duration, target string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	// Drain a little so the connection can be reused; health answers are small.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, resp.Status
	}
	return true, resp.Status
}

// observe feeds one check result into the region's consecutive-count state
// machine.
func (a *Accelerator) observe(region string, ok bool, why string, c HealthCheck) {
	var evs []Event
	a.mu.Lock()
	r := a.state[region]
	switch {
	case r.healthy && ok:
		r.fails = 0
	case r.healthy:
		r.fails++
		if r.fails >= c.UnhealthyThreshold {
			r.healthy, r.fails, r.oks = false, 0, 0
			evs = a.verdictLocked(r, fmt.Sprintf("%d consecutive failed checks, last: %s", c.UnhealthyThreshold, why))
		}
	case ok:
		r.oks++
		if r.oks >= c.HealthyThreshold {
			r.healthy, r.fails, r.oks = true, 0, 0
			evs = a.verdictLocked(r, fmt.Sprintf("%d consecutive good checks", c.HealthyThreshold))
		}
	default:
		r.oks = 0
	}
	a.mu.Unlock()
	a.emit(evs)
}

// verdictLocked records a health verdict change and applies it to routing
// now or after MoveDelay. a.mu is held.
func (a *Accelerator) verdictLocked(r *accRegion, detail string) []Event {
	kind := EventHealthy
	if !r.healthy {
		kind = EventUnhealthy
	}
	ev := a.recordLocked(Event{At: a.now(), Region: r.ep.Region, Kind: kind, Detail: detail})
	a.log().Info("accelerator: health", "region", r.ep.Region, "verdict", kind, "detail", detail)
	r.gen++
	if a.MoveDelay <= 0 {
		return append([]Event{ev}, a.moveLocked(r)...)
	}
	gen := r.gen
	var t *time.Timer
	t = time.AfterFunc(a.MoveDelay, func() {
		a.mu.Lock()
		r.pendings = slices.DeleteFunc(r.pendings, func(p *time.Timer) bool { return p == t })
		var evs []Event
		if r.gen == gen && !a.done { // a later verdict supersedes this one
			evs = a.moveLocked(r)
		}
		a.mu.Unlock()
		a.emit(evs)
	})
	r.pendings = append(r.pendings, t)
	return []Event{ev}
}

// moveLocked makes routing follow the region's verdict. a.mu is held.
func (a *Accelerator) moveLocked(r *accRegion) []Event {
	if r.routed == r.healthy {
		return nil
	}
	r.routed = r.healthy
	dir := RouteIn
	if !r.routed {
		dir = RouteOut
	}
	var b strings.Builder
	b.WriteString(dir)
	for i, p := range a.prefs {
		sep := ": "
		if i > 0 {
			sep = ", "
		}
		to, open := a.routeLocked(p)
		fmt.Fprintf(&b, "%s%v -> %s", sep, p, to)
		if open {
			b.WriteString(" (fail open)")
		}
	}
	ev := a.recordLocked(Event{At: a.now(), Region: r.ep.Region, Kind: EventRoute, Detail: b.String()})
	a.log().Info("accelerator: route", "region", r.ep.Region, "detail", ev.Detail)
	return []Event{ev}
}

func (a *Accelerator) recordLocked(ev Event) Event {
	a.evs = append(a.evs, ev)
	return ev
}

func (a *Accelerator) emit(evs []Event) {
	if a.onEvent == nil {
		return
	}
	for _, ev := range evs {
		a.onEvent(ev)
	}
}

// routeLocked is Route with a.mu held.
func (a *Accelerator) routeLocked(pref []string) (string, bool) {
	for _, region := range pref {
		if r := a.state[region]; r != nil && r.routed {
			return region, false
		}
	}
	return pref[0], true
}

// Route says where a request from a location with this preference order goes
// now, and whether that is failing open (no region in the list healthy).
func (a *Accelerator) Route(preference []string) (region string, failOpen bool) {
	a.init()
	if len(preference) == 0 {
		return "", true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.routeLocked(preference)
}

// Handler is the entry point of one producer location: it proxies each
// request to the first healthy region in preference order, or to
// preference[0] when none is healthy (fail open, as GA does), and adds the
// response header X-Twinstream-Region naming the region. It panics if
// preference is empty or names a region without an endpoint with a valid
// URL: that is a mistake in the drill's setup.
func (a *Accelerator) Handler(preference []string) http.Handler {
	a.init()
	if len(preference) == 0 {
		panic("drill: accelerator handler needs at least one region")
	}
	pref := slices.Clone(preference)
	for _, region := range pref {
		if r := a.state[region]; r == nil || r.proxy == nil {
			panic(fmt.Sprintf("drill: accelerator has no endpoint with a valid URL for region %q", region))
		}
	}
	a.mu.Lock()
	if !slices.ContainsFunc(a.prefs, func(p []string) bool { return slices.Equal(p, pref) }) {
		a.prefs = append(a.prefs, pref)
	}
	a.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		a.mu.Lock()
		region, _ := a.routeLocked(pref)
		proxy := a.state[region].proxy
		a.mu.Unlock()
		w.Header().Set(HeaderRegion, region)
		proxy.ServeHTTP(w, req)
	})
}

// Events returns a copy of the events so far, oldest first.
func (a *Accelerator) Events() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.evs)
}

// Healthy reports the current health-check verdict for region (routing
// follows it after MoveDelay). An unknown region is not healthy.
func (a *Accelerator) Healthy(region string) bool {
	a.init()
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.state[region]
	return r != nil && r.healthy
}
