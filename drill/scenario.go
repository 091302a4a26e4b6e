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
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/twinstream/twinstream/internal/standin"
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/health/health"
	"github.com/twinstream/twinstream/lambdas/record"
)

// Failure modes of a region's Kinesis.
const (
	FailKill = "kill" // the process dies: connections are refused
	FailHang = "hang" // the process stops (SIGSTOP): calls hang until their deadline
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
	// Failure is FailKill (default) or FailHang.
	Failure string
	// Return is ReturnWithData (default) or ReturnEmpty.
	Return string
	// Both makes both regions' Kinesis fail at once (else only the first
	// region's).
	Both bool
	// Warmup is the steady load before the failure. Default 5s.
	Warmup time.Duration
	// Outage is the longest Kinesis stays down. When only one region fails,
	// the outage ends early, MinOutageAfterMove after traffic moved.
	// Default: the failover bound plus Allowance plus 10s.
	Outage time.Duration
	// MinOutageAfterMove: see Outage. Default 5s.
	MinOutageAfterMove time.Duration
	// Recovery is the load after Kinesis is back. Default 15s.
	Recovery time.Duration
	// Drain bounds the wait, after the load stops, for the spill to be
	// replayed and the sinks to hold every acknowledged id. Default 90s.
	Drain time.Duration
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
	// follows a health change. Default 0; Global Accelerator's own ~30 s
	// come on top in AWS.
	MoveDelay time.Duration
	// Log receives progress and the components' logs. Default: discard.
	Log *slog.Logger
}

func (o *Options) defaults(bound time.Duration) {
	if o.Failure == "" {
		o.Failure = FailKill
	}
	if o.Return == "" {
		o.Return = ReturnWithData
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Warmup, 5*time.Second)
	def(&o.Allowance, 5*time.Second)
	def(&o.Outage, bound+o.Allowance+10*time.Second)
	def(&o.MinOutageAfterMove, 5*time.Second)
	def(&o.Recovery, 15*time.Second)
	def(&o.Drain, 90*time.Second)
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

// Result is a drill's outcome.
type Result struct {
	Report   *Report
	Timeline *Timeline
	// Bound is the failover time the templates' settings allow (see
	// FailoverBound); the drill expects traffic to move within
	// Bound + Allowance.
	Bound, Allowance time.Duration
	Load             *LoadResult
	// Events are the harness accelerator's health and routing events.
	Events []Event
	// AckedDuringOutage counts per region the ids acknowledged while its
	// Kinesis was down.
	AckedDuringOutage map[string]int
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
// harness accelerator in front, producers near each region, then region A's
// Kinesis (or both) fails and comes back; replay drains the spill and the
// processors run. It returns the report; lost records are a result, not an
// error (the caller decides).
func Run(t standin.T, ctx context.Context, o Options) (*Result, error) {
	app, err := ReadApp(o.CDKOut)
	if err != nil {
		return nil, err
	}
	if len(app.Regions) != 2 {
		return nil, fmt.Errorf("drill: want two regions in %s, got %d", o.CDKOut, len(app.Regions))
	}
	bound, err := FailoverBound(app.Regions[0])
	if err != nil {
		return nil, fmt.Errorf("drill: failover bound: %w", err)
	}
	bound += o.MoveDelay
	o.defaults(bound)
	log := o.Log

	key := randomKey()
	sum := sha256.Sum256([]byte(key))
	keys := fmt.Sprintf(`{"keys":[{"id":"drill","sha256":%q}]}`, hex.EncodeToString(sum[:]))
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
	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	for _, r := range regions {
		r.Pollers(runCtx)
	}

	acc := &Accelerator{
		Endpoints: []Endpoint{{Region: a.Name, URL: a.Front.URL}, {Region: b.Name, URL: b.Front.URL}},
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
		Retries: 20, Timeout: 30 * time.Second, IDPrefix: "drill",
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
	log.Info("drill: Kinesis fails", "mode", o.Failure, "regions", names(failing))
	for _, r := range failing {
		var err error
		if o.Failure == FailHang {
			err = r.Kinesis.Hang()
		} else {
			err = r.Kinesis.Kill()
		}
		if err != nil {
			return nil, fmt.Errorf("drill: fail %s: %w", r.Name, err)
		}
	}

	// The outage lasts until traffic has moved (and a little more), or
	// Outage at the most.
	outageEnd := failureAt.Add(o.Outage)
	for time.Now().Before(outageEnd) && ctx.Err() == nil {
		if !o.Both {
			if moved := movedAt(acc.Events(), a.Name, failureAt); !moved.IsZero() && time.Since(moved) >= o.MinOutageAfterMove {
				break
			}
		}
		sleep(ctx, 200*time.Millisecond)
	}
	recoveryAt := time.Now()
	log.Info("drill: Kinesis comes back", "with", o.Return)
	for _, r := range failing {
		if err := r.recover(ctx, o.Failure, o.Return); err != nil {
			return nil, fmt.Errorf("drill: recover %s: %w", r.Name, err)
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
	// acknowledged id reaches a sink (or Drain runs out: then lost > 0).
	var sinkIDs map[string]int
	deadline := time.Now().Add(o.Drain)
	for {
		sinkIDs, err = sinks(ctx, regions)
		if err != nil {
			return nil, err
		}
		_, lost, _, _ := Reconcile(res.Acked, sinkIDs)
		drainMu.Lock()
		drained := !drainedAt.IsZero()
		drainMu.Unlock()
		if (lost == 0 && drained) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleep(ctx, time.Second)
	}
	stopAll()

	events := acc.Events()
	rep := &Report{Sent: len(res.Sent), Acked: len(res.Acked), FailureAt: failureAt, PerRegion: map[string]RegionCounts{}}
	rep.FoundInSinks, rep.Lost, rep.Duplicates, rep.LostIDs = Reconcile(res.Acked, sinkIDs)
	rep.UnhealthyAt = firstEvent(events, a.Name, EventUnhealthy, failureAt)
	rep.MovedAt = movedAt(events, a.Name, failureAt)
	drainMu.Lock()
	rep.DrainedAt = drainedAt
	drainMu.Unlock()
	since := func(at time.Time) time.Duration {
		if at.IsZero() {
			return 0
		}
		return at.Sub(failureAt)
	}
	rep.TimeToUnhealthy, rep.TimeToMoved = since(rep.UnhealthyAt), since(rep.MovedAt)
	rep.TimeToDrained = since(rep.DrainedAt)
	during := map[string]int{}
	for _, ack := range res.Acked {
		c := rep.PerRegion[ack.Region]
		c.Acked++
		if ack.Spilled {
			c.Spilled++
		}
		rep.PerRegion[ack.Region] = c
		if ack.At.After(failureAt) && ack.At.Before(recoveryAt) {
			during[ack.Region]++
		}
	}
	for _, r := range regions {
		ids, err := r.sinkIDs(ctx)
		if err != nil {
			return nil, err
		}
		c := rep.PerRegion[r.Name]
		c.InSink = len(ids)
		rep.PerRegion[r.Name] = c
	}
	rep.DuplicateWhy = duplicateReasons(res.Acked, sinkIDs, o.Failure)

	tl := BuildTimeline(start, time.Second, []string{a.Name, b.Name}, res.Acked, events)
	tl.FailureAt, tl.RecoveryAt, tl.DrainedAt = failureAt, recoveryAt, rep.DrainedAt
	tl.Title = fmt.Sprintf("twinstream outage drill: %s Kinesis %s, back %s", strings.Join(names(failing), "+"), o.Failure, map[string]string{ReturnWithData: "with its data", ReturnEmpty: "empty"}[o.Return])
	return &Result{Report: rep, Timeline: tl, Bound: bound, Allowance: o.Allowance, Load: res, Events: events, AckedDuringOutage: during}, nil
}

// recover brings a region's Kinesis back.
func (r *Region) recover(ctx context.Context, failure, ret string) error {
	if ret == ReturnEmpty {
		if err := r.Kinesis.RestartEmpty(ctx); err != nil {
			return err
		}
		return r.RecreateStream(ctx)
	}
	if failure == FailHang {
		return r.Kinesis.Resume()
	}
	return r.Kinesis.Restart(ctx)
}

func (r *Region) spillObjects(ctx context.Context) (int, error) {
	objs, err := r.S3.Objects(ctx, r.SpillBucket, "spill/")
	return len(objs), err
}

// sinkIDs counts the envelopes per id in the region's sink.
func (r *Region) sinkIDs(ctx context.Context) (map[string]int, error) {
	objs, err := r.S3.Objects(ctx, r.SinkBucket, "records/")
	if err != nil {
		return nil, err
	}
	ids := map[string]int{}
	for _, o := range objs {
		for _, line := range bytes.Split(o.Body, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			e, err := record.Decode(line)
			if err != nil {
				return nil, fmt.Errorf("sink object %s: %w", o.Key, err)
			}
			ids[e.ID]++
		}
	}
	return ids, nil
}

// sinks is the union of both regions' sinks: consumers read either (S3
// replicates each to the other in AWS).
func sinks(ctx context.Context, regions []*Region) (map[string]int, error) {
	all := map[string]int{}
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
func duplicateReasons(acked map[string]Ack, sinkIDs map[string]int, failure string) []string {
	spilled, other := 0, 0
	for id, n := range sinkIDs {
		if n < 2 {
			continue
		}
		if acked[id].Spilled {
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
