package drill

import (
	"strings"
	"testing"
	"time"
)

func TestFailoverBound(t *testing.T) {
	deep := HealthCheck{Path: "/health/deep", Interval: 5 * time.Second, Timeout: 4 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2}
	spec := func(env map[string]string, c HealthCheck) RegionSpec {
		vals := map[string]Value{"STREAM_NAME": {Ref: "Stream", RefType: "AWS::Kinesis::Stream"}}
		for k, v := range env {
			vals[k] = Value{Literal: v}
		}
		return RegionSpec{Functions: map[string]FunctionSpec{"health": {Name: "health", Env: vals}}, DeepHealth: c}
	}
	tests := []struct {
		name    string
		env     map[string]string
		check   HealthCheck
		want    time.Duration
		wantErr bool
	}{
		// gap = (floor((1+5)/5)+1)*5 = 10 s: every other check probes.
		{"handler defaults", nil, deep, 3*10*time.Second + time.Second + 5*time.Second, false},
		// gap = (floor((1+3)/5)+1)*5 = 5 s: every check can probe.
		{"the app's 3 s cache", map[string]string{"PROBE_CACHE_TTL": "3s", "PROBE_TIMEOUT": "1s"}, deep, 3*5*time.Second + time.Second + 5*time.Second, false},
		{"one failure turns it", map[string]string{"UNHEALTHY_AFTER": "1", "PROBE_CACHE_TTL": "1s"}, deep, 5*time.Second + time.Second + 5*time.Second, false},
		{"three checks to fail", map[string]string{"PROBE_CACHE_TTL": "3s"}, HealthCheck{Interval: 10 * time.Second, UnhealthyThreshold: 3}, 3*10*time.Second + time.Second + 20*time.Second, false},
		{"bad env", map[string]string{"PROBE_CACHE_TTL": "soon"}, deep, 0, true},
		{"no health check", nil, HealthCheck{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FailoverBound(spec(tt.env, tt.check))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %s, %v, want %s (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestUnreachableBound(t *testing.T) {
	tests := []struct {
		name    string
		check   HealthCheck
		want    time.Duration
		wantErr bool
	}{
		// First failed check within 5 s, it fails within 4 s, one more 5 s later.
		{"two checks", HealthCheck{Interval: 5 * time.Second, Timeout: 4 * time.Second, UnhealthyThreshold: 2}, 14 * time.Second, false},
		{"timeout capped by the interval", HealthCheck{Interval: 5 * time.Second, UnhealthyThreshold: 3}, 20 * time.Second, false},
		{"no health check", HealthCheck{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnreachableBound(RegionSpec{DeepHealth: tt.check})
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %s, %v, want %s (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOptionsCheck(t *testing.T) {
	tests := []struct {
		name        string
		o           Options
		wantFailure string
		wantErr     string
	}{
		{"defaults", Options{}, FailKill, ""},
		{"spill hangs", Options{Fault: FaultSpill, Failure: FailHang, Return: ReturnEmpty}, FailHang, ""},
		{"unreachable refuses by default", Options{Fault: FaultUnreachable}, FailRefuse, ""},
		{"unreachable drops", Options{Fault: FaultUnreachable, Failure: FailDrop}, FailDrop, ""},
		{"sink errors", Options{Fault: FaultSink}, FailError, ""},
		{"secrets error", Options{Fault: FaultSecrets}, FailError, ""},
		{"unknown fault", Options{Fault: "meteor"}, "", `unknown fault "meteor"`},
		{"kill is for Kinesis", Options{Fault: FaultUnreachable, Failure: FailKill}, "", "fails as refuse or drop"},
		{"empty is for Kinesis", Options{Fault: FaultSink, Return: ReturnEmpty}, "", "-return empty is for"},
		{"unknown return", Options{Return: "later"}, "", `unknown return "later"`},
		{"both only for Kinesis", Options{Fault: FaultSecrets, Both: true}, "", "both regions fail only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			err := o.check()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || o.Failure != tt.wantFailure {
				t.Errorf("got failure %q, %v, want %q", o.Failure, err, tt.wantFailure)
			}
		})
	}
}

func TestExpectation(t *testing.T) {
	plain := RegionSpec{Functions: map[string]FunctionSpec{"health": {Env: map[string]Value{"STREAM_NAME": {Ref: "S"}}}}}
	secret := RegionSpec{Functions: map[string]FunctionSpec{"health": {Env: map[string]Value{"STREAM_NAME": {Ref: "S"},
		"API_KEYS_SECRET_ARN": {Literal: "twinstream/api-keys"}}}}}
	tests := []struct {
		name string
		o    Options
		spec RegionSpec
		want string
	}{
		{"kinesis", Options{Fault: FaultKinesis}, plain, ExpectMove},
		{"both regions' kinesis", Options{Fault: FaultKinesis, Both: true}, plain, ExpectFailOpen},
		{"spill", Options{Fault: FaultSpill}, plain, ExpectMove},
		{"unreachable", Options{Fault: FaultUnreachable}, plain, ExpectMove},
		{"sink", Options{Fault: FaultSink}, secret, ExpectStay},
		{"secrets, health does not read the secret", Options{Fault: FaultSecrets}, plain, ExpectStay},
		{"secrets, health reads the secret", Options{Fault: FaultSecrets}, secret, ExpectMove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.expectation(tt.spec); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScenario(t *testing.T) {
	regions := []string{"us-east-1", "us-west-2"}
	tests := []struct {
		o    Options
		want string
	}{
		{Options{Fault: FaultKinesis, Failure: FailKill, Return: ReturnEmpty}, "us-east-1 Kinesis kill, back empty"},
		{Options{Fault: FaultKinesis, Failure: FailHang, Return: ReturnWithData, Both: true}, "us-east-1+us-west-2 Kinesis hang, back with its data"},
		{Options{Fault: FaultSpill, Failure: FailKill, Return: ReturnWithData}, "us-east-1 spill bucket fails while its Kinesis is down (kill), back with its data"},
		{Options{Fault: FaultSecrets, Failure: FailError}, "us-east-1 Secrets Manager fails, ingest in new execution environments"},
		{Options{Fault: FaultSink, Failure: FailError}, "us-east-1 sink bucket fails"},
		{Options{Fault: FaultUnreachable, Failure: FailDrop}, "us-east-1 unreachable: its front drops every connection"},
	}
	for _, tt := range tests {
		if got := tt.o.Scenario(regions); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestFailoverBoundThreeRegions computes the failover bound of every region
// of the three-region golden templates (the root's testdata/three-region):
// each region's health function and region-health target group give it, so
// a third region changes nothing in how fast one region's traffic moves.
func TestFailoverBoundThreeRegions(t *testing.T) {
	app, err := ReadApp(tplGoldenDir + "/three-region")
	if err != nil {
		t.Fatalf("ReadApp: got error %v, want none", err)
	}
	if got := len(app.Regions); got != 3 {
		t.Fatalf("regions: got %d, want 3", got)
	}
	for _, r := range app.Regions {
		got, err := FailoverBound(r)
		if err != nil {
			t.Fatalf("%s: FailoverBound: got error %v, want none", r.Region, err)
		}
		// PROBE_CACHE_TTL 3s, PROBE_TIMEOUT 1s, checks every 5s, 2 to fail:
		// 3 probes 5 s apart + 1 s + one more check.
		if want := 3*5*time.Second + time.Second + 5*time.Second; got != want {
			t.Errorf("%s: failover bound: got %s, want %s", r.Region, got, want)
		}
		t.Logf("%s: failover bound %s (+ Global Accelerator's ~30 s)", r.Region, got)
	}
}

func TestDrainClock(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type step struct {
		at, found int
		expired   bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"no progress: over after the stall", []step{{10, 0, false}, {30, 0, false}, {31, 0, true}}},
		{"progress moves the deadline", []step{{25, 100, false}, {50, 200, false}, {79, 200, false}, {81, 200, true}}},
		{"the same count is no progress", []step{{25, 100, false}, {50, 100, false}, {56, 100, true}}},
		{"never past the maximum", []step{{25, 1, false}, {50, 2, false}, {75, 3, false}, {99, 4, false}, {101, 5, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newDrainClock(t0, 30*time.Second, 100*time.Second)
			for _, s := range tt.steps {
				if got := c.expired(at(s.at), s.found); got != s.expired {
					t.Fatalf("at +%ds with %d found: got expired %v, want %v", s.at, s.found, got, s.expired)
				}
			}
		})
	}
}
