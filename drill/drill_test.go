package drill

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinstream/twinstream/internal/standin"
)

var (
	synthOnce sync.Once
	synthDir  string
	synthErr  error
)

// cdkOut synthesizes the app once per test binary through the pinned CDK CLI,
// as `make synth` does: the drill runs the configuration that would deploy.
func cdkOut(t *testing.T) string {
	t.Helper()
	synthOnce.Do(func() {
		root := standin.RepoRoot(t)
		dir, err := os.MkdirTemp("", "drill-cdk-out-")
		if err != nil {
			synthErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "node_modules", ".bin", "cdk"), "synth", "--quiet", "--no-notices", "--no-version-reporting", "--output", dir)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CDK_DEFAULT_ACCOUNT=", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
		if b, err := cmd.CombinedOutput(); err != nil {
			synthErr = err
			synthDir = string(b)
			return
		}
		synthDir = dir
	})
	if synthErr != nil {
		t.Fatalf("cdk synth: %v\n%s", synthErr, synthDir)
	}
	return synthDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if synthDir != "" && synthErr == nil {
		os.RemoveAll(synthDir)
	}
	os.Exit(code)
}

// TestDrill runs short drills against the synthesized app and checks the
// project's promise: nothing acknowledged is lost, and traffic leaves a
// region whose Kinesis fails within the bound its health checks allow.
func TestDrill(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"kill", Options{Failure: FailKill, Return: ReturnWithData}},
		{"hang", Options{Failure: FailHang, Return: ReturnWithData}},
		{"both regions", Options{Failure: FailKill, Return: ReturnWithData, Both: true}},
	}
	dir := cdkOut(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.CDKOut = dir
			o.Recovery = 10 * time.Second
			o.Rate = 150
			res, err := Run(t, t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			r := res.Report
			t.Logf("\n%s", r.Table())
			t.Logf("failover bound from the templates: %s + allowance %s", res.Bound, res.Allowance)
			if r.Acked == 0 {
				t.Fatalf("acknowledged: got 0, want records")
			}
			if r.Lost != 0 {
				t.Errorf("lost: got %d (first %v), want 0", r.Lost, first(r.LostIDs, 5))
			}
			if r.FoundInSinks != r.Acked {
				t.Errorf("acknowledged ids in a sink: got %d, want %d", r.FoundInSinks, r.Acked)
			}
			if r.DrainedAt.IsZero() {
				t.Errorf("spill drained: got never, want drained after recovery")
			}
			a, b := res.Timeline.Regions[0], res.Timeline.Regions[1]
			if !o.Both {
				if r.MovedAt.IsZero() {
					t.Fatalf("traffic moved away from %s: got never, want within %s", a, res.Bound+res.Allowance)
				}
				if r.TimeToMoved > res.Bound+res.Allowance {
					t.Errorf("failover time: got %s, want <= %s (bound %s + allowance %s)", r.TimeToMoved, res.Bound+res.Allowance, res.Bound, res.Allowance)
				}
				if r.PerRegion[a].Spilled == 0 {
					t.Errorf("%s spilled: got 0, want > 0 while its Kinesis was down", a)
				}
				return
			}
			// Both regions down: ingest keeps acknowledging by spilling (the
			// accelerator fails open), and after recovery nothing is lost.
			for _, region := range []string{a, b} {
				if res.AckedDuringOutage[region] == 0 || r.PerRegion[region].Spilled == 0 {
					t.Errorf("%s during the outage: got %d acked, %d spilled, want both > 0", region, res.AckedDuringOutage[region], r.PerRegion[region].Spilled)
				}
			}
			for _, e := range res.Events {
				if e.Kind == EventRoute && strings.Contains(e.Detail, "fail open") {
					return
				}
			}
			t.Errorf("routing with both regions unhealthy: got no fail-open route, want one (events %v)", res.Events)
		})
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
