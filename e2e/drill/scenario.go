package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twinstream/twinstream/e2e/internal/standin"
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/health/health"
	"github.com/twinstream/twinstream/lambdas/record"
)

// Faults: what fails in the first region (both regions' Kinesis with Both).
const (
	// FaultKinesis: its Kinesis fails (Failure kill or hang) and comes back
	// (Return). Ingest spills; traffic moves.
	FaultKinesis = "kinesis"
	// FaultSpill: its Kinesis fails and its spill bucket too. Ingest answers
	// 503 and producers retry; traffic moves.
	FaultSpill = "spill"
	// FaultSecrets: its Secrets Manager fails and ingest runs in new
	// execution environments (none has the API keys cached): ingest answers
	// 503. Traffic moves when the health function reads the secret too.
	FaultSecrets = "secrets"
	// FaultSink: its sink bucket fails for Outage. The processor reports
	// failures and the event source mapping retries; traffic stays.
	FaultSink = "sink"
	// FaultUnreachable: its front refuses (Failure refuse) or drops (drop)
	// every connection. The accelerator's checks fail; traffic moves.
	FaultUnreachable = "unreachable"
)

// Faults lists the faults in the order the drill's help shows them.
var Faults = []string{FaultKinesis, FaultSpill, FaultSecrets, FaultSink, FaultUnreachable}

// Failure modes: of Kinesis (FaultKinesis, FaultSpill), of the front
// (FaultUnreachable), and of the other faults (FailError).
const (
	FailKill   = "kill" // the process dies: connections are refused
	FailHang   = "hang" // the process stops (SIGSTOP): calls hang until their deadline
	FailRefuse = GateRefuse
	FailDrop   = GateDrop
	FailError  = "error" // the service answers every call with an error (5xx)
)

// What a scenario expects of routing after the failure.
const (
	ExpectMove     = "move"      // traffic leaves the failed region
	ExpectFailOpen = "fail open" // both regions unhealthy: traffic keeps flowing
	ExpectStay     = "stay"      // the region stays healthy and keeps its traffic
)

// How a failed Kinesis comes back.
const (
	ReturnWithData = "data"  // with every record it had
	ReturnEmpty    = "empty" // with nothing: the stream is created again
)

// Options describe one drill. Zero values take the defaults on each field.
type Options struct {
	// CDKOut is the synthesized app (cdk.out): functions, their environment,
	// listener rules and health-check settings are read from it.
	CDKOut string
	// Fault is one of Faults. Default FaultKinesis.
	Fault string
	// Failure is how it fails: FailKill (default) or FailHang for
	// FaultKinesis and FaultSpill, FailRefuse (default) or FailDrop for
	// FaultUnreachable, FailError for the others.
	Failure string
	// Return is how Kinesis comes back (FaultKinesis, FaultSpill):
	// ReturnWithData (default) or ReturnEmpty.
	Return string
	// Both makes both regions' Kinesis fail at once (FaultKinesis only).
	Both bool
	// Warmup is the steady load before the failure. Default 5s.
	Warmup time.Duration
	// Outage is the longest the fault lasts. When the scenario expects
	// traffic to move (or to fail open), the outage ends early,
	// MinOutageAfterMove after it did. Default: the failover bound plus
	// Allowance plus 10s, or 15s when traffic is to stay.
	Outage time.Duration
	// MinOutageAfterMove: see Outage. Default 5s.
	MinOutageAfterMove time.Duration
	// Recovery is the load after Kinesis is back. Default 15s.
	Recovery time.Duration
	// Drain bounds the wait, after the load stops, for the spill to be
	// replayed and the sinks to hold every acknowledged id, counted from the
	// last progress: while the sinks gain acknowledged records the drill
	// waits on (a high rate spills more, and replay takes longer), up to
	// DrainMax. Default 90s.
	Drain time.Duration
	// DrainMax bounds the whole wait. Default 10 minutes.
	DrainMax time.Duration
	// Rate is records per second over all producers. Default 200.
	Rate float64
	// Producers is the number of concurrent producers, half near each
	// region. Default 4.
	Producers int
	// BatchSize is records per request. Default 10.
	BatchSize int
	// IngestConcurrency is ingest's execution environments per region.
	// Default 4.
	IngestConcurrency int
	// Allowance is added to the bound computed from the templates for the
	// failover time: request latency and scheduling on the test machine.
	// Default 5s.
	Allowance time.Duration
	// MoveDelay is how long the harness accelerator waits before routing
	// follows a health change, as Global Accelerator does (~30 s). Default
	// 0. The failover bound includes it.
	MoveDelay time.Duration
	// DrainPoll is how often the drain looks at the sinks. Default 1s.
	DrainPoll time.Duration
	// Log receives progress and the components' logs. Default: discard.
	Log *slog.Logger
}

// check applies the defaults of Fault and Failure and says whether the
// combination is one the drill has.
func (o *Options) check() error {
	if o.Fault == "" {
		o.Fault = FaultKinesis
	}
	if !slices.Contains(Faults, o.Fault) {
		return fmt.Errorf("drill: unknown fault %q (want one of %s)", o.Fault, strings.Join(Faults, ", "))
	}
	modes := map[string][]string{
		FaultKinesis: {FailKill, FailHang}, FaultSpill: {FailKill, FailHang},
		FaultUnreachable: {FailRefuse, FailDrop}, FaultSecrets: {FailError}, FaultSink: {FailError},
	}[o.Fault]
	if o.Failure == "" {
		o.Failure = modes[0]
	}
	if !slices.Contains(modes, o.Failure) {
		return fmt.Errorf("drill: fault %s fails as %s, not %q", o.Fault, strings.Join(modes, " or "), o.Failure)
	}
	if o.Return == "" {
		o.Return = ReturnWithData
	}
	if o.Return != ReturnWithData && o.Return != ReturnEmpty {
		return fmt.Errorf("drill: unknown return %q (want %s or %s)", o.Return, ReturnWithData, ReturnEmpty)
	}
	if o.Return == ReturnEmpty && o.Fault != FaultKinesis && o.Fault != FaultSpill {
		return fmt.Errorf("drill: -return %s is for the faults %s and %s", ReturnEmpty, FaultKinesis, FaultSpill)
	}
	if o.Both && o.Fault != FaultKinesis {
		return fmt.Errorf("drill: both regions fail only with the fault %s", FaultKinesis)
	}
	return nil
}

// expectation is what routing should do after the failure, given the
// synthesized health function.
func (o *Options) expectation(spec RegionSpec) string {
	switch {
	case o.Fault == FaultSink:
		return ExpectStay
	case o.Fault == FaultSecrets && !HealthReadsSecret(spec):
		return ExpectStay
	case o.Both:
		return ExpectFailOpen
	}
	return ExpectMove
}

// HealthReadsSecret reports whether the region's health function is given
// the API-key secret (API_KEYS_SECRET_ARN), so that its deep check fails
// when ingest cannot authenticate producers.
func HealthReadsSecret(spec RegionSpec) bool {
	_, ok := spec.Functions["health"].Env["API_KEYS_SECRET_ARN"]
	return ok
}

func (o *Options) defaults(bound time.Duration, expect string) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Warmup, 5*time.Second)
	def(&o.Allowance, 5*time.Second)
	if expect == ExpectStay {
		def(&o.Outage, 15*time.Second)
	}
	def(&o.Outage, bound+o.Allowance+10*time.Second)
	def(&o.MinOutageAfterMove, 5*time.Second)
	def(&o.Recovery, 15*time.Second)
	def(&o.Drain, 90*time.Second)
	def(&o.DrainMax, 10*time.Minute)
	def(&o.DrainPoll, time.Second)
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Producers <= 0 {
		o.Producers = 4
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Scenario describes the drill in a line, e.g. "us-east-1 Kinesis kill,
// back empty".
func (o *Options) Scenario(regions []string) string {
	back := map[string]string{ReturnWithData: "back with its data", ReturnEmpty: "back empty"}[o.Return]
	a := regions[0]
	switch o.Fault {
	case FaultSpill:
		return fmt.Sprintf("%s spill bucket fails while its Kinesis is down (%s), %s", a, o.Failure, back)
	case FaultSecrets:
		return fmt.Sprintf("%s Secrets Manager fails, ingest in new execution environments", a)
	case FaultSink:
		return fmt.Sprintf("%s sink bucket fails", a)
	case FaultUnreachable:
		how := map[string]string{FailRefuse: "refuses", FailDrop: "drops"}[o.Failure]
		return fmt.Sprintf("%s unreachable: its front %s every connection", a, how)
	}
	if o.Both {
		a = strings.Join(regions, "+")
	}
	return fmt.Sprintf("%s Kinesis %s, %s", a, o.Failure, back)
}

// labels name the failure and the recovery on the timeline.
func (o *Options) labels() (failure, recovery string) {
	switch o.Fault {
	case FaultSpill:
		return "Kinesis and spill bucket fail", "both back"
	case FaultSecrets:
		return "Secrets Manager fails", "Secrets Manager back"
	case FaultSink:
		return "sink bucket fails", "sink bucket back"
	case FaultUnreachable:
		return "region unreachable", "region reachable"
	}
	return "Kinesis failure", "Kinesis back"
}

// UnreachableBound is the longest the templates' settings let an
// unreachable region keep its traffic with one checker: the first failed
// check starts at most Interval after the failure and fails within Timeout,
// and UnhealthyThreshold - 1 more follow Interval apart.
func UnreachableBound(spec RegionSpec) (time.Duration, error) {
	c := spec.DeepHealth
	if c.Interval <= 0 || c.UnhealthyThreshold <= 0 {
		return 0, errors.New("the region-health target group has no health check")
	}
	timeout := c.Timeout
	if timeout <= 0 || timeout > c.Interval {
		timeout = c.Interval
	}
	return time.Duration(c.UnhealthyThreshold)*c.Interval + timeout, nil
}

// Result is a drill's outcome.
type Result struct {
	Report   *Report
	Timeline *Timeline
	// Expect is what routing should have done (ExpectMove, ExpectFailOpen
	// or ExpectStay).
	Expect string
	// Bound is the failover time the templates' settings allow (see
	// FailoverBound and UnreachableBound) plus MoveDelay; the drill expects
	// traffic to move within Bound + Allowance, and not before MoveDelay.
	Bound, Allowance, MoveDelay time.Duration
	// FailOpenAt is when routing first failed open after the failure (zero:
	// never).
	FailOpenAt time.Time
	// Processor is each region's Kinesis event source mapping's counts.
	Processor map[string]ESMStats
	Load      *LoadResult
	// Events are the harness accelerator's health and routing events.
	Events []Event
	// AckedDuringOutage counts per region the ids acknowledged between the
	// failure and the recovery; SpilledDuringOutage those of them spilled.
	AckedDuringOutage, SpilledDuringOutage map[string]int
}

// FailoverBound is the longest the templates' settings let a region whose
// Kinesis cannot take writes keep its traffic, with one health checker (the
// harness accelerator; in AWS several ALB nodes check, which only shortens
// it, and Global Accelerator adds its own ~30 s):
//
//   - the health function probes Kinesis only when a check arrives and its
//     cached result (PROBE_CACHE_TTL, counted from the end of the last probe,
//     which takes up to PROBE_TIMEOUT) has expired, so probes are
//     gap = (floor((PROBE_TIMEOUT + PROBE_CACHE_TTL) / Interval) + 1) * Interval
//     apart at most, and the first failing one comes at most gap after the
//     failure;
//   - its verdict turns after UNHEALTHY_AFTER failed probes, at the end of
//     the last one (+ PROBE_TIMEOUT); that check is the first failed one;
//   - the region-health target group then needs UnhealthyThreshold - 1 more
//     failed checks, Interval apart.
func FailoverBound(spec RegionSpec) (time.Duration, error) {
	fs, ok := spec.Functions["health"]
	if !ok {
		return 0, errors.New("no health function")
	}
	// Only literals matter here (references name the stream).
	vars := map[string]string{}
	for k, v := range fs.Env {
		if v.Ref == "" {
			vars[k] = v.Literal
		}
	}
	r := &env.Reader{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	unhealthyAfter := r.Int("UNHEALTHY_AFTER", health.DefaultUnhealthyAfter, 1, 100)
	cacheTTL := r.Duration("PROBE_CACHE_TTL", health.DefaultCacheTTL)
	probeTimeout := r.Duration("PROBE_TIMEOUT", health.DefaultProbeTimeout)
	if err := r.Err(); err != nil {
		return 0, err
	}
	c := spec.DeepHealth
	if c.Interval <= 0 || c.UnhealthyThreshold <= 0 {
		return 0, errors.New("the region-health target group has no health check")
	}
	gap := ((probeTimeout+cacheTTL)/c.Interval + 1) * c.Interval
	return time.Duration(unhealthyAfter)*gap + probeTimeout + time.Duration(c.UnhealthyThreshold-1)*c.Interval, nil
}

// Run runs one drill: two local regions from the synthesized app, the
// harness accelerator in front, producers near each region, then the fault
// hits region A (or both regions' Kinesis) and goes away; replay drains the
// spill and the processors run. It returns the report; lost records are a
// result, not an error (the caller decides).
func Run(t standin.T, ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	app, err := ReadApp(o.CDKOut)
	if err != nil {
		return nil, err
	}
	if len(app.Regions) != 2 {
		return nil, fmt.Errorf("drill: want two regions in %s, got %d", o.CDKOut, len(app.Regions))
	}
	var bound time.Duration
	if o.Fault == FaultUnreachable {
		bound, err = UnreachableBound(app.Regions[0])
	} else {
		bound, err = FailoverBound(app.Regions[0])
	}
	if err != nil {
		return nil, fmt.Errorf("drill: failover bound: %w", err)
	}
	bound += o.MoveDelay
	expect := o.expectation(app.Regions[0])
	o.defaults(bound, expect)
	log := o.Log

	key := randomKey()
	sum := sha256.Sum256([]byte(key))
	keys := fmt.Sprintf(`{"keys":[{"id":%q,"sha256":%q}]}`, KeyID, hex.EncodeToString(sum[:]))
	bootstraps := map[string]string{}
	for _, name := range []string{"ingest", "health", "processor", "replay"} {
		bootstraps[name] = standin.BuildBootstrap(t, "./lambdas/"+name)
	}
	secretName := secretNameOf(app)

	log.Info("drill: starting two regions", "regions", []string{app.Regions[0].Region, app.Regions[1].Region})
	var regions []*Region
	for _, spec := range app.Regions {
		r, err := StartRegion(t, ctx, RegionOptions{Spec: spec, Bootstraps: bootstraps, APIKeys: keys, SecretName: secretName,
			IngestConcurrency: o.IngestConcurrency, Log: log})
		if err != nil {
			return nil, err
		}
		regions = append(regions, r)
	}
	a, b := regions[0], regions[1]
	regionNames := names(regions)
	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	for _, r := range regions {
		r.Pollers(runCtx)
	}

	acc := &Accelerator{
		Endpoints: []Endpoint{{Region: a.Name, URL: a.Gate.URL()}, {Region: b.Name, URL: b.Gate.URL()}},
		Check:     app.Regions[0].DeepHealth,
		MoveDelay: o.MoveDelay,
		Log:       log,
	}
	nearA := httptest.NewServer(acc.Handler([]string{a.Name, b.Name}))
	defer nearA.Close()
	nearB := httptest.NewServer(acc.Handler([]string{b.Name, a.Name}))
	defer nearB.Close()
	go acc.Run(runCtx)

	start := time.Now()
	load := &LoadGen{
		Targets:   []Target{{URL: nearA.URL + "/v1/records", Location: "near-" + a.Name}, {URL: nearB.URL + "/v1/records", Location: "near-" + b.Name}},
		Producers: o.Producers, Rate: o.Rate, BatchSize: o.BatchSize, APIKey: key,
		Timeout: 30 * time.Second,
	}
	loadCtx, stopLoad := context.WithCancel(runCtx)
	defer stopLoad()
	loadDone := make(chan *LoadResult, 1)
	go func() { loadDone <- load.Run(loadCtx) }()

	sleep(ctx, o.Warmup)
	failing := []*Region{a}
	if o.Both {
		failing = regions
	}
	failureAt := time.Now()
	log.Info("drill: failure", "fault", o.Fault, "mode", o.Failure, "regions", names(failing))
	for _, r := range failing {
		if err := r.fail(ctx, o); err != nil {
			return nil, fmt.Errorf("drill: fail %s: %w", r.Name, err)
		}
	}

	// The outage lasts until routing did what the scenario expects (and a
	// little more), or Outage at the most.
	outageEnd := failureAt.Add(o.Outage)
	for time.Now().Before(outageEnd) && ctx.Err() == nil {
		var done time.Time
		switch expect {
		case ExpectMove:
			done = movedAt(acc.Events(), a.Name, failureAt)
		case ExpectFailOpen:
			done = failOpenAt(acc.Events(), failureAt)
		}
		if !done.IsZero() && time.Since(done) >= o.MinOutageAfterMove {
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	recoveryAt := time.Now()
	log.Info("drill: recovery", "fault", o.Fault, "return", o.Return)
	held := map[record.Identity]bool{}
	heldChecked := false
	for _, r := range failing {
		h, err := r.recover(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("drill: recover %s: %w", r.Name, err)
		}
		if h != nil {
			heldChecked = true
			maps.Copy(held, h)
		}
	}

	// Watch the failed regions' spill buckets drain.
	var drainedAt time.Time
	var drainMu sync.Mutex
	go func() {
		for runCtx.Err() == nil {
			empty := true
			for _, r := range failing {
				if n, err := r.spillObjects(runCtx); err != nil || n > 0 {
					empty = false
				}
			}
			if runCtx.Err() != nil {
				return // a listing cut short by the end says nothing
			}
			drainMu.Lock()
			if empty && drainedAt.IsZero() {
				drainedAt = time.Now()
			} else if !empty {
				drainedAt = time.Time{}
			}
			drainMu.Unlock()
			sleep(runCtx, 250*time.Millisecond)
		}
	}()

	sleep(ctx, o.Recovery)
	stopLoad()
	res := <-loadDone
	log.Info("drill: load stopped", "sent", len(res.Sent), "acked", len(res.Acked))

	// Drain: replay empties the spill, processors catch up, every
	// acknowledged id reaches a sink (or the wait runs out: then lost > 0).
	var sinkIDs map[record.Identity]int
	clock := newDrainClock(time.Now(), o.Drain, o.DrainMax)
	for {
		sinkIDs, err = sinks(ctx, regions)
		if err != nil {
			return nil, err
		}
		rec := Reconcile(res.Acked, KeyID, sinkIDs, held)
		drainMu.Lock()
		drained := drainedAt
		drainMu.Unlock()
		// What Kinesis lost itself cannot arrive any more: no use waiting.
		if (rec.Lost == 0 && !drained.IsZero()) || clock.expired(time.Now(), rec.Found) || ctx.Err() != nil {
			break
		}
		sleep(ctx, o.DrainPoll)
	}
	drainMu.Lock()
	drained := drainedAt
	drainMu.Unlock()
	stopAll()

	events := acc.Events()
	rep := &Report{Scenario: o.Scenario(regionNames), Sent: len(res.Sent), Acked: len(res.Acked), FailureAt: failureAt,
		PerRegion: map[string]RegionCounts{}, HeldChecked: heldChecked, Held: len(held), FailedAttempts: len(res.Failures)}
	rec := Reconcile(res.Acked, KeyID, sinkIDs, held)
	rep.FoundInSinks, rep.Lost, rep.LostByKinesis, rep.Duplicates = rec.Found, rec.Lost, rec.LostByKinesis, rec.Duplicates
	rep.LostIDs, rep.LostByKinesisIDs = rec.LostIDs, rec.LostByKinesisIDs
	rep.UnhealthyAt = firstEvent(events, a.Name, EventUnhealthy, failureAt)
	rep.MovedAt = movedAt(events, a.Name, failureAt)
	rep.DrainedAt = drained
	since := func(at time.Time) time.Duration {
		if at.IsZero() {
			return 0
		}
		return at.Sub(failureAt)
	}
	rep.TimeToUnhealthy, rep.TimeToMoved = since(rep.UnhealthyAt), since(rep.MovedAt)
	rep.TimeToDrained = since(rep.DrainedAt)
	rep.Load = loadFigures(o.Rate, o.BatchSize, o.Producers, res, failureAt, recoveryAt)
	during, spilledDuring := map[string]int{}, map[string]int{}
	for _, ack := range res.Acked {
		c := rep.PerRegion[ack.Region]
		c.Acked++
		if ack.Spilled {
			c.Spilled++
		}
		if ack.In503 {
			rep.AckedIn503++
		}
		rep.PerRegion[ack.Region] = c
		if ack.At.After(failureAt) && ack.At.Before(recoveryAt) {
			during[ack.Region]++
			if ack.Spilled {
				spilledDuring[ack.Region]++
			}
		}
	}
	for _, f := range res.Failures {
		c := rep.PerRegion[f.Region]
		c.Failed++
		rep.PerRegion[f.Region] = c
	}
	procs := map[string]ESMStats{}
	for _, r := range regions {
		ids, err := r.sinkIDs(ctx)
		if err != nil {
			return nil, err
		}
		c := rep.PerRegion[r.Name]
		c.InSink = len(ids)
		procs[r.Name] = r.processor.Stats()
		c.BatchFails = procs[r.Name].Failures
		rep.PerRegion[r.Name] = c
	}
	rep.DuplicateWhy = duplicateReasons(res.Acked, sinkIDs, o.Failure)

	tl := BuildTimeline(start, time.Second, regionNames, res.Acked, events)
	tl.AddFailures(res.Failures)
	tl.FailureAt, tl.RecoveryAt = failureAt, recoveryAt
	for _, r := range failing {
		if rep.PerRegion[r.Name].Spilled > 0 {
			tl.DrainedAt = rep.DrainedAt // a drain to show
		}
	}
	tl.FailureLabel, tl.RecoveryLabel = o.labels()
	tl.Title = "twinstream outage drill: " + rep.Scenario
	return &Result{Report: rep, Timeline: tl, Expect: expect, Bound: bound, Allowance: o.Allowance, MoveDelay: o.MoveDelay,
		FailOpenAt: failOpenAt(events, failureAt), Processor: procs, Load: res, Events: events, AckedDuringOutage: during,
		SpilledDuringOutage: spilledDuring}, nil
}

// KeyID is the id of the drill's API key: ingest names it as the producer
// of every record the drill sends.
const KeyID = "drill"

// fail makes the fault happen in r.
func (r *Region) fail(ctx context.Context, o Options) error {
	switch o.Fault {
	case FaultSpill:
		r.S3.FailBucket(r.SpillBucket, true)
		return r.failKinesis(o.Failure)
	case FaultSecrets:
		r.Secrets.Fail(true)
		// Warm environments keep the keys they have; new ones (Lambda
		// scaling out or replacing them) cannot load any.
		return r.RecycleIngest(ctx)
	case FaultSink:
		r.S3.FailBucket(r.SinkBucket, true)
		return nil
	case FaultUnreachable:
		return r.Gate.Set(o.Failure)
	}
	return r.failKinesis(o.Failure)
}

func (r *Region) failKinesis(failure string) error {
	if failure == FailHang {
		return r.Kinesis.Hang()
	}
	return r.Kinesis.Kill()
}

// recover ends the fault in r. When Kinesis comes back empty it returns
// what the stream held before (identities of the envelopes), read from a
// copy of its data; otherwise nil.
func (r *Region) recover(ctx context.Context, o Options) (map[record.Identity]bool, error) {
	switch o.Fault {
	case FaultSecrets:
		r.Secrets.Fail(false)
		return nil, nil
	case FaultSink:
		r.S3.FailBucket(r.SinkBucket, false)
		return nil, nil
	case FaultUnreachable:
		return nil, r.Gate.Set(GateOpen)
	case FaultSpill:
		r.S3.FailBucket(r.SpillBucket, false)
	}
	if o.Return == ReturnEmpty {
		recs, err := r.Kinesis.Held(ctx, r.StreamName)
		if err != nil {
			return nil, fmt.Errorf("read what the stream held: %w", err)
		}
		envs, err := standin.Envelopes(recs)
		if err != nil {
			return nil, err
		}
		held := map[record.Identity]bool{}
		for _, e := range envs {
			held[e.Identity()] = true
		}
		if err := r.Kinesis.RestartEmpty(ctx); err != nil {
			return nil, err
		}
		return held, r.RecreateStream(ctx)
	}
	if o.Failure == FailHang {
		return nil, r.Kinesis.Resume()
	}
	return nil, r.Kinesis.Restart(ctx)
}

func (r *Region) spillObjects(ctx context.Context) (int, error) {
	objs, err := r.S3.Objects(ctx, r.SpillBucket, "spill/")
	return len(objs), err
}

// sinkIDs counts the envelopes per identity in the region's sink.
func (r *Region) sinkIDs(ctx context.Context) (map[record.Identity]int, error) {
	objs, err := r.S3.Objects(ctx, r.SinkBucket, "records/")
	if err != nil {
		return nil, err
	}
	ids := map[record.Identity]int{}
	for _, o := range objs {
		for _, line := range bytes.Split(o.Body, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			e, err := record.Decode(line)
			if err != nil {
				return nil, fmt.Errorf("sink object %s: %w", o.Key, err)
			}
			ids[e.Identity()]++
		}
	}
	return ids, nil
}

// sinks is the union of both regions' sinks: consumers read either (S3
// replicates each to the other in AWS).
func sinks(ctx context.Context, regions []*Region) (map[record.Identity]int, error) {
	all := map[record.Identity]int{}
	for _, r := range regions {
		ids, err := r.sinkIDs(ctx)
		if err != nil {
			return nil, err
		}
		for id, n := range ids {
			all[id] += n
		}
	}
	return all, nil
}

// duplicateReasons explains the extra copies: at-least-once delivery has
// known sources, and the report says which this drill's numbers point to.
func duplicateReasons(acked map[string]Ack, sinkIDs map[record.Identity]int, failure string) []string {
	spilled, other := 0, 0
	for id, n := range sinkIDs {
		if n < 2 {
			continue
		}
		if acked[id.ID].Spilled {
			spilled += n - 1
		} else {
			other += n - 1
		}
	}
	var why []string
	if spilled > 0 {
		w := fmt.Sprintf("%d copies of ids that ingest spilled: the Kinesis write timed out or failed, ingest spilled the records, and Kinesis had taken (some of) them after all", spilled)
		if failure == FailHang {
			w += " (a frozen Kinesis applies the requests it had received when it resumes)"
		}
		why = append(why, w+"; replay then wrote them again")
	}
	if other > 0 {
		why = append(why, fmt.Sprintf("%d copies of ids never spilled: a producer retried a request whose answer it did not get, or the processor wrote a batch again after a retry from a failed record", other))
	}
	return why
}

func firstEvent(events []Event, region, kind string, after time.Time) time.Time {
	for _, e := range events {
		if e.Region == region && e.Kind == kind && !e.At.Before(after) {
			return e.At
		}
	}
	return time.Time{}
}

// failOpenAt is when routing first failed open after the failure.
func failOpenAt(events []Event, after time.Time) time.Time {
	for _, e := range events {
		if e.Kind == EventRoute && strings.Contains(e.Detail, "fail open") && !e.At.Before(after) {
			return e.At
		}
	}
	return time.Time{}
}

// movedAt is when routing took region out after the failure.
func movedAt(events []Event, region string, after time.Time) time.Time {
	for _, e := range events {
		if e.Region == region && e.Kind == EventRoute && strings.HasPrefix(e.Detail, RouteOut) && !e.At.Before(after) {
			return e.At
		}
	}
	return time.Time{}
}

func names(rs []*Region) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// secretNameOf finds the API-key secret's name: the peer region's ingest
// reads it by name.
func secretNameOf(app *AppSpec) string {
	for _, r := range app.Regions {
		if v, ok := r.Functions["ingest"].Env["API_KEYS_SECRET_ARN"]; ok && v.Ref == "" && v.Literal != "" {
			return v.Literal
		}
	}
	return "api-keys"
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "drill-" + hex.EncodeToString(b)
}

// drainClock times the drain: it ends stall after the last progress (more
// acknowledged records found in the sinks), and max after it began.
type drainClock struct {
	end, deadline time.Time
	stall         time.Duration
	found         int
}

func newDrainClock(now time.Time, stall, max time.Duration) *drainClock {
	return &drainClock{end: now.Add(max), deadline: now.Add(stall), stall: stall}
}

// expired takes the records found at now and reports whether the wait is
// over.
func (c *drainClock) expired(now time.Time, found int) bool {
	if found > c.found {
		c.found = found
		c.deadline = now.Add(c.stall)
	}
	return now.After(c.deadline) || now.After(c.end)
}
