package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/globalaccelerator"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/smithy-go"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
)

// ErrRefused is returned (wrapped) when Drain would take the last region
// taking traffic off the accelerator and Options.Force is not set.
var ErrRefused = errors.New("refused")

// ErrNotConfirmed is returned (wrapped) when the change was made but
// Options.Wait ran out before Global Accelerator (and, for a drain, Route 53)
// confirmed it.
var ErrNotConfirmed = errors.New("change made, not confirmed yet")

// Options say how a switch runs.
type Options struct {
	// DryRun reads and prints what would change, and changes nothing.
	DryRun bool
	// Force drains the last region taking traffic.
	Force bool
	// Wait is how long to wait for Global Accelerator to deploy the change
	// (and, for a drain, for Route 53 to fail the region's check); 0: do
	// not wait.
	Wait time.Duration
	// Poll is the interval between checks while waiting (default 5s).
	Poll time.Duration
}

// Switch drains and restores regions, printing what it does to Out.
type Switch struct {
	Reader
	Out io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *Switch) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Switch) printf(format string, args ...any) {
	fmt.Fprintf(s.Out, format, args...)
}

// Drain sets region's traffic dial to 0 and points its Route 53 health check
// at DrainedPath, so that neither the accelerator nor the DNS failover path
// sends it new producers. It refuses (ErrRefused) when no other region has
// a traffic dial above 0 and a healthy endpoint, unless o.Force.
func (s *Switch) Drain(ctx context.Context, p *pipeline.Pipeline, region string, o Options) error {
	return s.set(ctx, p, region, true, o)
}

// Restore sets region's traffic dial and health-check path back to the
// template's values (100 and /health/deep).
func (s *Switch) Restore(ctx context.Context, p *pipeline.Pipeline, region string, o Options) error {
	return s.set(ctx, p, region, false, o)
}

func (s *Switch) set(ctx context.Context, p *pipeline.Pipeline, region string, drain bool, o Options) error {
	reg := p.Region(region)
	if reg == nil {
		return fmt.Errorf("pipeline %s has no region %s (its regions: %s)", p.Name, region, strings.Join(p.RegionNames(), ", "))
	}
	verb, dial, path := "restore", reg.TemplateDial, reg.TemplatePath
	if drain {
		verb, dial, path = "drain", 0, DrainedPath
	}

	// Every region's group: the refusal needs the others'.
	groups := map[string]Group{}
	for _, r := range p.Regions {
		g, err := s.Group(ctx, r.EndpointGroupARN)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		groups[r.Name] = g
	}
	if drain {
		var others, why []string
		for _, r := range p.Regions {
			if r.Name == region {
				continue
			}
			g := groups[r.Name]
			switch {
			case g.Dial <= 0:
				why = append(why, fmt.Sprintf("%s: traffic dial %s", r.Name, pct(g.Dial)))
			case !g.Healthy():
				why = append(why, fmt.Sprintf("%s: endpoint %s", r.Name, g.Health()))
			default:
				others = append(others, r.Name)
			}
		}
		if len(others) == 0 {
			if !o.Force {
				return fmt.Errorf("%w: %s is the last region taking traffic (%s); pass --force to drain it anyway", ErrRefused, region, strings.Join(why, "; "))
			}
			s.printf("warning: %s is the last region taking traffic (%s); draining it anyway (--force)\n", region, strings.Join(why, "; "))
		}
	}
	check, err := s.Check(ctx, reg.HealthCheckID)
	if err != nil {
		return fmt.Errorf("%s: %w", region, err)
	}
	if st := p.Global.Status; strings.HasSuffix(st, "_IN_PROGRESS") {
		s.printf("warning: stack %s is %s: a deploy that updates %s's endpoint group or health check will set them to the template's values\n", p.Global.Name, st, region)
	}

	g := groups[region]
	dialChange, pathChange := g.Dial != dial, check.Path != path
	s.printf("%s %s (pipeline %s):\n", verb, region, p.Name)
	s.printf("  global accelerator: traffic dial %s%s (endpoint group %s)\n", pct(g.Dial), change(dialChange, pct(dial)), reg.EndpointGroupARN)
	s.printf("  route 53: health check %s path %s%s\n", reg.HealthCheckID, check.Path, change(pathChange, path))
	if !dialChange && !pathChange {
		s.printf("nothing to change: %s is already %sed\n", region, strings.TrimSuffix(verb, "e"))
		return nil
	}
	if o.DryRun {
		s.printf("dry run: nothing changed\n")
		return nil
	}

	start := s.now()
	if dialChange {
		cctx, cancel := s.call(ctx)
		_, err := s.GA.UpdateEndpointGroup(cctx, &globalaccelerator.UpdateEndpointGroupInput{
			EndpointGroupArn: aws.String(reg.EndpointGroupARN), TrafficDialPercentage: aws.Float32(dial)})
		cancel()
		if err != nil {
			return fmt.Errorf("%s: set traffic dial of endpoint group %s to %s: %w; nothing changed", region, reg.EndpointGroupARN, pct(dial), err)
		}
		s.printf("  changed: traffic dial %s\n", pct(dial))
	}
	if pathChange {
		if err := s.setPath(ctx, reg.HealthCheckID, check.Version, path); err != nil {
			done := ""
			if dialChange {
				done = fmt.Sprintf(" (the traffic dial is already %s: run the command again to finish)", pct(dial))
			}
			return fmt.Errorf("%s: %w%s", region, err, done)
		}
		s.printf("  changed: health check path %s\n", path)
	}
	s.explain(p, reg, drain, check)
	if o.Wait <= 0 {
		return nil
	}
	return s.wait(ctx, p, reg, drain, dialChange, o, start)
}

// setPath points a health check at path, guarded by its version; a check
// changed in between is read again once.
func (s *Switch) setPath(ctx context.Context, id string, version int64, path string) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := s.call(ctx)
		_, err := s.R53.UpdateHealthCheck(cctx, &route53.UpdateHealthCheckInput{
			HealthCheckId: aws.String(id), HealthCheckVersion: aws.Int64(version), ResourcePath: aws.String(path)})
		cancel()
		var ae smithy.APIError
		if err != nil && attempt == 0 && errors.As(err, &ae) && ae.ErrorCode() == "HealthCheckVersionMismatch" {
			c, rerr := s.Check(ctx, id)
			if rerr != nil {
				return rerr
			}
			if c.Path == path {
				return nil
			}
			version = c.Version
			continue
		}
		if err != nil {
			return fmt.Errorf("set path of health check %s to %s: %w", id, path, err)
		}
		return nil
	}
}

// explain prints what the change does to each path and what undoes it.
func (s *Switch) explain(p *pipeline.Pipeline, reg *pipeline.Region, drain bool, c Check) {
	detect := time.Duration(max(c.Interval, 10)*max(c.Threshold, 1)) * time.Second
	if drain {
		s.printf("what happens:\n")
		s.printf("  global accelerator sends new connections to the other regions, typically within 30 s; open\n")
		s.printf("  connections stay until they close. It still fails over to %s when no other region has a\n", reg.Name)
		s.printf("  healthy endpoint (failover ignores traffic dials), and fails open when none has.\n")
		s.printf("  route 53: the check fails (404) after about %s (%d checks %ds apart); DNS answers for the\n", detect, c.Threshold, c.Interval)
		s.printf("  failover name then leave %s out, once resolvers' cached answers expire (60 s for an ALB alias).\n", reg.Name)
		s.printf("  a deploy of %s that updates this endpoint group or health check sets them back to the\n", p.Global.Name)
		s.printf("  template's values (dial %s, path %s): `twinstream status` shows the drift.\n", pct(reg.TemplateDial), reg.TemplatePath)
		s.printf("  undo with: twinstream restore %s\n", reg.Name)
		return
	}
	s.printf("what happens:\n")
	s.printf("  global accelerator sends %s its share of new connections again once its endpoint is healthy,\n", reg.Name)
	s.printf("  typically within 30 s; route 53 counts the check healthy again after it passes %d checks (%ds apart).\n", c.Threshold, c.Interval)
}

// wait polls until Global Accelerator has deployed the change and, for a
// drain, Route 53 counts the region's check unhealthy.
func (s *Switch) wait(ctx context.Context, p *pipeline.Pipeline, reg *pipeline.Region, drain, dialChange bool, o Options, start time.Time) error {
	poll := o.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	gaDone, r53Done := !dialChange, !drain
	s.printf("waiting up to %s for", o.Wait)
	if !gaDone {
		s.printf(" global accelerator to deploy")
	}
	if !gaDone && !r53Done {
		s.printf(" and")
	}
	if !r53Done {
		s.printf(" route 53 to fail the check")
	}
	s.printf(" ...\n")
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	for {
		if !gaDone {
			st, err := s.AcceleratorStatus(ctx, p.AcceleratorARN)
			if err != nil && ctx.Err() == nil {
				return err
			}
			if st == "DEPLOYED" {
				gaDone = true
				s.printf("  global accelerator: DEPLOYED %s after the change\n", s.now().Sub(start).Round(time.Second))
			}
		}
		if !r53Done {
			c := Check{}
			err := s.Observe(ctx, reg.HealthCheckID, &c)
			if err != nil && ctx.Err() == nil {
				return err
			}
			if err == nil && !c.Healthy() {
				r53Done = true
				s.printf("  route 53: %s %s after the change\n", c.Verdict(), s.now().Sub(start).Round(time.Second))
			}
		}
		if gaDone && r53Done {
			if !drain {
				c, err := s.Check(ctx, reg.HealthCheckID)
				if err == nil {
					err = s.Observe(ctx, reg.HealthCheckID, &c)
				}
				if err == nil {
					s.printf("  route 53: %s now\n", c.Verdict())
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			var pending []string
			if !gaDone {
				pending = append(pending, "global accelerator still IN_PROGRESS")
			}
			if !r53Done {
				pending = append(pending, "route 53 still counts the check healthy")
			}
			return fmt.Errorf("%w after %s: %s (see twinstream status)", ErrNotConfirmed, o.Wait, strings.Join(pending, ", "))
		case <-time.After(poll):
		}
	}
}

// pct prints a traffic dial.
func pct(d float32) string {
	return fmt.Sprintf("%g", d)
}

func change(changed bool, to string) string {
	if !changed {
		return " (unchanged)"
	}
	return " -> " + to
}
