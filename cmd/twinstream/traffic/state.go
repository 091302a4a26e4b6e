// Package traffic reads and switches the two paths producers reach a region
// by: its Global Accelerator endpoint group (the traffic dial) and its
// Route 53 health check (which gates the region's record in the DNS
// failover path). Drain takes a region off both, Restore puts it back.
package traffic

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/globalaccelerator"
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// DrainedPath is the ResourcePath a drained region's Route 53 health check
// asks for. The ALB routes /health/* to the health function, which answers
// 404 for any path but /health and /health/deep: the check fails whatever
// the region's health, so Route 53 leaves the region out of the DNS
// failover path as the traffic dial leaves it out of the accelerator's.
// (Inverted would not do: it makes an unhealthy region look healthy;
// Disabled makes Route 53 treat the check as healthy.)
const DrainedPath = "/health/drained"

// Accelerator is the part of the Global Accelerator client used here.
type Accelerator interface {
	DescribeAccelerator(ctx context.Context, in *globalaccelerator.DescribeAcceleratorInput, opts ...func(*globalaccelerator.Options)) (*globalaccelerator.DescribeAcceleratorOutput, error)
	DescribeEndpointGroup(ctx context.Context, in *globalaccelerator.DescribeEndpointGroupInput, opts ...func(*globalaccelerator.Options)) (*globalaccelerator.DescribeEndpointGroupOutput, error)
	UpdateEndpointGroup(ctx context.Context, in *globalaccelerator.UpdateEndpointGroupInput, opts ...func(*globalaccelerator.Options)) (*globalaccelerator.UpdateEndpointGroupOutput, error)
}

// HealthChecks is the part of the Route 53 client used here.
type HealthChecks interface {
	GetHealthCheck(ctx context.Context, in *route53.GetHealthCheckInput, opts ...func(*route53.Options)) (*route53.GetHealthCheckOutput, error)
	GetHealthCheckStatus(ctx context.Context, in *route53.GetHealthCheckStatusInput, opts ...func(*route53.Options)) (*route53.GetHealthCheckStatusOutput, error)
	UpdateHealthCheck(ctx context.Context, in *route53.UpdateHealthCheckInput, opts ...func(*route53.Options)) (*route53.UpdateHealthCheckOutput, error)
}

// Group is an endpoint group's state.
type Group struct {
	Dial      float32    `json:"trafficDial"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Endpoint is one endpoint's health as Global Accelerator sees it
// (HEALTHY, UNHEALTHY, INITIAL), with its reason when it gives one.
type Endpoint struct {
	ID     string `json:"id"`
	Health string `json:"health"`
	Reason string `json:"reason,omitempty"`
}

// Healthy says whether the group has a healthy endpoint (Global
// Accelerator sends a group traffic only then, failing open when no group
// has one).
func (g Group) Healthy() bool {
	for _, e := range g.Endpoints {
		if e.Health == "HEALTHY" {
			return true
		}
	}
	return false
}

// Health summarizes the endpoints' states: HEALTHY, UNHEALTHY, INITIAL, or
// several joined by "/".
func (g Group) Health() string {
	var states []string
	for _, e := range g.Endpoints {
		s := e.Health
		if e.Reason != "" {
			s += " (" + e.Reason + ")"
		}
		if !contains(states, s) {
			states = append(states, s)
		}
	}
	if len(states) == 0 {
		return "NO ENDPOINT"
	}
	return strings.Join(states, "/")
}

// Check is a Route 53 health check's configuration and, after Observe,
// what its checkers report.
type Check struct {
	Version   int64  `json:"version"`
	Path      string `json:"path"`
	Interval  int32  `json:"intervalSeconds"`
	Threshold int32  `json:"failureThreshold"`
	Disabled  bool   `json:"disabled,omitempty"`
	Inverted  bool   `json:"inverted,omitempty"`
	// OK of Checkers health checkers report success (Observe).
	OK       int `json:"checkersOk"`
	Checkers int `json:"checkers"`
}

// Healthy is Route 53's verdict: more than 18% of the checkers report
// success (a disabled check counts as healthy).
func (c Check) Healthy() bool {
	if c.Disabled {
		return true
	}
	return c.Checkers > 0 && c.OK*100 > 18*c.Checkers
}

// Verdict is "healthy (n/m checkers OK)" or "unhealthy (...)".
func (c Check) Verdict() string {
	v := "unhealthy"
	if c.Healthy() {
		v = "healthy"
	}
	return fmt.Sprintf("%s (%d/%d checkers OK)", v, c.OK, c.Checkers)
}

// Reader reads groups and checks with a deadline on each call.
type Reader struct {
	GA  Accelerator
	R53 HealthChecks
	// Timeout bounds each call (default 10s).
	Timeout time.Duration
}

func (r *Reader) call(ctx context.Context) (context.Context, context.CancelFunc) {
	t := r.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return context.WithTimeout(ctx, t)
}

// Group reads an endpoint group.
func (r *Reader) Group(ctx context.Context, arn string) (Group, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	out, err := r.GA.DescribeEndpointGroup(ctx, &globalaccelerator.DescribeEndpointGroupInput{EndpointGroupArn: aws.String(arn)})
	if err != nil {
		return Group{}, fmt.Errorf("describe endpoint group %s: %w", arn, err)
	}
	if out.EndpointGroup == nil {
		return Group{}, fmt.Errorf("describe endpoint group %s: empty answer", arn)
	}
	g := Group{Dial: aws.ToFloat32(out.EndpointGroup.TrafficDialPercentage)}
	for _, e := range out.EndpointGroup.EndpointDescriptions {
		g.Endpoints = append(g.Endpoints, Endpoint{ID: aws.ToString(e.EndpointId), Health: string(e.HealthState), Reason: aws.ToString(e.HealthReason)})
	}
	return g, nil
}

// AcceleratorStatus reads the accelerator's deployment status (DEPLOYED or
// IN_PROGRESS).
func (r *Reader) AcceleratorStatus(ctx context.Context, arn string) (string, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	out, err := r.GA.DescribeAccelerator(ctx, &globalaccelerator.DescribeAcceleratorInput{AcceleratorArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("describe accelerator %s: %w", arn, err)
	}
	if out.Accelerator == nil {
		return "", fmt.Errorf("describe accelerator %s: empty answer", arn)
	}
	s := string(out.Accelerator.Status)
	if out.Accelerator.Enabled != nil && !*out.Accelerator.Enabled {
		s += " (DISABLED)"
	}
	return s, nil
}

// Check reads a health check's configuration.
func (r *Reader) Check(ctx context.Context, id string) (Check, error) {
	ctx, cancel := r.call(ctx)
	defer cancel()
	out, err := r.R53.GetHealthCheck(ctx, &route53.GetHealthCheckInput{HealthCheckId: aws.String(id)})
	if err != nil {
		return Check{}, fmt.Errorf("get health check %s: %w", id, err)
	}
	hc := out.HealthCheck
	if hc == nil || hc.HealthCheckConfig == nil {
		return Check{}, fmt.Errorf("get health check %s: empty answer", id)
	}
	c := hc.HealthCheckConfig
	return Check{
		Version: aws.ToInt64(hc.HealthCheckVersion), Path: aws.ToString(c.ResourcePath),
		Interval: aws.ToInt32(c.RequestInterval), Threshold: aws.ToInt32(c.FailureThreshold),
		Disabled: aws.ToBool(c.Disabled), Inverted: aws.ToBool(c.Inverted),
	}, nil
}

// Observe adds what the checkers report now to c.
func (r *Reader) Observe(ctx context.Context, id string, c *Check) error {
	ctx, cancel := r.call(ctx)
	defer cancel()
	out, err := r.R53.GetHealthCheckStatus(ctx, &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("get health check status %s: %w", id, err)
	}
	c.OK, c.Checkers = 0, len(out.HealthCheckObservations)
	for _, o := range out.HealthCheckObservations {
		if o.StatusReport != nil && strings.HasPrefix(aws.ToString(o.StatusReport.Status), "Success") {
			c.OK++
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
