package traffic_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/globalaccelerator"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/traffic"
)

// env is a deployed pipeline in the fakes and a Switch whose SDK clients
// reach them.
type env struct {
	ga  *awsfake.Accelerator
	r53 *awsfake.Route53
	p   *pipeline.Pipeline
	sw  *traffic.Switch
	out *bytes.Buffer
}

func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	cf, ga, r53 := awsfake.NewCloudFormation(t), awsfake.NewAccelerator(t), awsfake.NewRoute53(t)
	if _, err := awsfake.Deploy(cf, ga, r53, awsfake.DeployOptions{Name: "twinstream", Dir: dir, GlobalRegion: pipeline.GlobalRegion}); err != nil {
		t.Fatal(err)
	}
	disc := &pipeline.Discoverer{CloudFormation: func(region string) pipeline.CloudFormation {
		return cloudformation.NewFromConfig(awsfake.Config(region), func(o *cloudformation.Options) { o.BaseEndpoint = aws.String(cf.URL()) })
	}}
	p, err := disc.Global(t.Context(), "twinstream")
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	return &env{ga: ga, r53: r53, p: p, out: out, sw: &traffic.Switch{Out: out, Reader: traffic.Reader{
		GA: globalaccelerator.NewFromConfig(awsfake.Config("us-west-2"), func(o *globalaccelerator.Options) {
			o.BaseEndpoint = aws.String(ga.URL())
		}),
		R53: route53.NewFromConfig(awsfake.Config("us-east-1"), func(o *route53.Options) {
			o.BaseEndpoint = aws.String(r53.URL())
		}),
	}}}
}

// state is a region's dial and health-check path in the fakes.
func (e *env) state(t *testing.T, region string) (float32, string) {
	t.Helper()
	reg := e.p.Region(region)
	g, ok := e.ga.Group(reg.EndpointGroupARN)
	hc, ok2 := e.r53.Check(reg.HealthCheckID)
	if !ok || !ok2 {
		t.Fatalf("%s: no endpoint group or health check in the fakes", region)
	}
	return g.Dial, hc.ResourcePath
}

func (e *env) updates() int {
	n := 0
	for _, c := range append(e.ga.Calls(), e.r53.Calls()...) {
		if strings.HasPrefix(c.Operation, "Update") {
			n++
		}
	}
	return n
}

var quick = traffic.Options{Wait: 5 * time.Second, Poll: time.Millisecond}

func TestDrainRestore(t *testing.T) {
	e := newEnv(t, awsfake.Golden())
	e.ga.DeployPolls = 3
	if err := e.sw.Drain(t.Context(), e.p, "us-east-1", quick); err != nil {
		t.Fatal(err)
	}
	if dial, path := e.state(t, "us-east-1"); dial != 0 || path != traffic.DrainedPath {
		t.Errorf("drained: got dial %v path %s, want 0 and %s", dial, path, traffic.DrainedPath)
	}
	if dial, path := e.state(t, "us-west-2"); dial != 100 || path != "/health/deep" {
		t.Errorf("us-west-2: got dial %v path %s, want it untouched", dial, path)
	}
	for _, want := range []string{
		"drain us-east-1 (pipeline twinstream):",
		"traffic dial 100 -> 0",
		"path /health/deep -> /health/drained",
		"global accelerator: DEPLOYED",
		"route 53: unhealthy (0/8 checkers OK)",
		"twinstream restore us-east-1",
	} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("drain output lacks %q:\n%s", want, e.out)
		}
	}
	// The GA update is made in us-west-2 (the fake refuses other regions).
	for _, c := range e.ga.Calls() {
		if c.Region != "us-west-2" {
			t.Errorf("%s signed for %s, want us-west-2", c.Operation, c.Region)
		}
	}

	e.out.Reset()
	if err := e.sw.Restore(t.Context(), e.p, "us-east-1", quick); err != nil {
		t.Fatal(err)
	}
	if dial, path := e.state(t, "us-east-1"); dial != 100 || path != "/health/deep" {
		t.Errorf("restored: got dial %v path %s, want 100 and /health/deep", dial, path)
	}
	for _, want := range []string{"traffic dial 0 -> 100", "path /health/drained -> /health/deep", "route 53: healthy (8/8 checkers OK) now"} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("restore output lacks %q:\n%s", want, e.out)
		}
	}
}

func TestDrainRefusesLastRegion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*env)
		why   string
	}{
		{"other region drained", func(e *env) {
			if err := e.sw.Drain(context.Background(), e.p, "us-west-2", traffic.Options{}); err != nil {
				panic(err)
			}
		}, "us-west-2: traffic dial 0"},
		{"other region unhealthy", func(e *env) {
			e.ga.SetHealth(e.p.Region("us-west-2").EndpointGroupARN, "UNHEALTHY")
		}, "us-west-2: endpoint UNHEALTHY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, awsfake.Golden())
			tc.setup(e)
			before := e.updates()
			err := e.sw.Drain(t.Context(), e.p, "us-east-1", quick)
			if !errors.Is(err, traffic.ErrRefused) || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("got %v, want ErrRefused naming %q and --force", err, tc.why)
			}
			if n := e.updates() - before; n != 0 {
				t.Errorf("refused drain made %d updates, want 0", n)
			}
			if dial, path := e.state(t, "us-east-1"); dial != 100 || path != "/health/deep" {
				t.Errorf("refused: got dial %v path %s, want it untouched", dial, path)
			}

			e.out.Reset()
			force := quick
			force.Force = true
			if err := e.sw.Drain(t.Context(), e.p, "us-east-1", force); err != nil {
				t.Fatal(err)
			}
			if dial, path := e.state(t, "us-east-1"); dial != 0 || path != traffic.DrainedPath {
				t.Errorf("--force: got dial %v path %s, want drained", dial, path)
			}
			if !strings.Contains(e.out.String(), "warning: us-east-1 is the last region taking traffic") {
				t.Errorf("--force output lacks the warning:\n%s", e.out)
			}
		})
	}
}

func TestDrainThreeRegions(t *testing.T) {
	e := newEnv(t, filepath.Join(awsfake.Golden(), "three-region"))
	for _, r := range []string{"eu-west-1", "us-east-1"} {
		if err := e.sw.Drain(t.Context(), e.p, r, traffic.Options{}); err != nil {
			t.Fatalf("drain %s with another region left: %v", r, err)
		}
	}
	if err := e.sw.Drain(t.Context(), e.p, "us-west-2", traffic.Options{}); !errors.Is(err, traffic.ErrRefused) {
		t.Errorf("drain the third: got %v, want ErrRefused", err)
	}
}

func TestDrainDryRun(t *testing.T) {
	e := newEnv(t, awsfake.Golden())
	o := quick
	o.DryRun = true
	if err := e.sw.Drain(t.Context(), e.p, "us-east-1", o); err != nil {
		t.Fatal(err)
	}
	if n := e.updates(); n != 0 {
		t.Errorf("dry run made %d updates, want 0", n)
	}
	if dial, path := e.state(t, "us-east-1"); dial != 100 || path != "/health/deep" {
		t.Errorf("dry run: got dial %v path %s, want untouched", dial, path)
	}
	for _, want := range []string{"traffic dial 100 -> 0", "path /health/deep -> /health/drained", "dry run: nothing changed"} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, e.out)
		}
	}
}

func TestDrainTwice(t *testing.T) {
	e := newEnv(t, awsfake.Golden())
	if err := e.sw.Drain(t.Context(), e.p, "us-east-1", traffic.Options{}); err != nil {
		t.Fatal(err)
	}
	before := e.updates()
	e.out.Reset()
	if err := e.sw.Drain(t.Context(), e.p, "us-east-1", quick); err != nil {
		t.Fatal(err)
	}
	if n := e.updates() - before; n != 0 || !strings.Contains(e.out.String(), "nothing to change: us-east-1 is already drained") {
		t.Errorf("second drain: %d updates, output:\n%s\nwant none and 'already drained'", n, e.out)
	}
}

func TestUnknownRegion(t *testing.T) {
	e := newEnv(t, awsfake.Golden())
	err := e.sw.Drain(t.Context(), e.p, "eu-west-1", quick)
	if err == nil || !strings.Contains(err.Error(), "pipeline twinstream has no region eu-west-1 (its regions: us-east-1, us-west-2)") {
		t.Errorf("got %v, want the regions listed", err)
	}
}

// touchFirst changes the health check behind the switch's back right
// before its first update: another operator's change.
type touchFirst struct {
	traffic.HealthChecks
	r53     *awsfake.Route53
	touched bool
}

func (c *touchFirst) UpdateHealthCheck(ctx context.Context, in *route53.UpdateHealthCheckInput, opts ...func(*route53.Options)) (*route53.UpdateHealthCheckOutput, error) {
	if !c.touched {
		c.touched = true
		c.r53.Touch(*in.HealthCheckId)
	}
	return c.HealthChecks.UpdateHealthCheck(ctx, in, opts...)
}

func TestDrainHealthCheckChangedMeanwhile(t *testing.T) {
	e := newEnv(t, awsfake.Golden())
	e.sw.R53 = &touchFirst{HealthChecks: e.sw.R53, r53: e.r53}
	if err := e.sw.Drain(t.Context(), e.p, "us-east-1", traffic.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, path := e.state(t, "us-east-1"); path != traffic.DrainedPath {
		t.Errorf("got path %s, want %s after reading the new version", path, traffic.DrainedPath)
	}
}

func TestDrainErrors(t *testing.T) {
	denied := &awsfake.APIError{Status: 403, Code: "AccessDeniedException", Message: "not authorized"}
	t.Run("accelerator update fails: nothing changed", func(t *testing.T) {
		e := newEnv(t, awsfake.Golden())
		e.ga.Fail("UpdateEndpointGroup", denied)
		err := e.sw.Drain(t.Context(), e.p, "us-east-1", traffic.Options{})
		if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "nothing changed") {
			t.Fatalf("got %v, want AccessDeniedException and 'nothing changed'", err)
		}
		if dial, path := e.state(t, "us-east-1"); dial != 100 || path != "/health/deep" {
			t.Errorf("got dial %v path %s, want untouched", dial, path)
		}
	})
	t.Run("route 53 update fails: run again to finish", func(t *testing.T) {
		e := newEnv(t, awsfake.Golden())
		e.r53.Fail("UpdateHealthCheck", &awsfake.APIError{Status: 403, Code: "AccessDenied", Message: "not authorized"})
		err := e.sw.Drain(t.Context(), e.p, "us-east-1", traffic.Options{})
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), "run the command again to finish") {
			t.Fatalf("got %v, want AccessDenied and 'run the command again'", err)
		}
		e.r53.Fail("UpdateHealthCheck", nil)
		if err := e.sw.Drain(t.Context(), e.p, "us-east-1", traffic.Options{}); err != nil {
			t.Fatal(err)
		}
		if dial, path := e.state(t, "us-east-1"); dial != 0 || path != traffic.DrainedPath {
			t.Errorf("after the rerun: got dial %v path %s, want drained", dial, path)
		}
	})
	t.Run("describe fails", func(t *testing.T) {
		e := newEnv(t, awsfake.Golden())
		e.ga.Fail("DescribeEndpointGroup", denied)
		if err := e.sw.Drain(t.Context(), e.p, "us-east-1", traffic.Options{}); err == nil || !strings.Contains(err.Error(), "describe endpoint group") {
			t.Errorf("got %v, want the failed describe", err)
		}
	})
	t.Run("wait runs out", func(t *testing.T) {
		e := newEnv(t, awsfake.Golden())
		e.ga.DeployPolls = 1 << 30
		err := e.sw.Drain(t.Context(), e.p, "us-east-1", traffic.Options{Wait: 30 * time.Millisecond, Poll: time.Millisecond})
		if !errors.Is(err, traffic.ErrNotConfirmed) || !strings.Contains(err.Error(), "global accelerator still IN_PROGRESS") {
			t.Errorf("got %v, want ErrNotConfirmed naming the accelerator", err)
		}
		if dial, _ := e.state(t, "us-east-1"); dial != 0 {
			t.Errorf("got dial %v, want the change made", dial)
		}
	})
}
