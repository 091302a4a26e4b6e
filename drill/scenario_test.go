package drill

import (
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
