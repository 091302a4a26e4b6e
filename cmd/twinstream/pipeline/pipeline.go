// Package pipeline finds a deployed twinstream pipeline from its name alone:
// the global stack <name>-global in GlobalRegion and a regional stack
// <name>-<region> per region, read through CloudFormation (the stacks'
// outputs, resources and templates). Nothing is typed by hand: the regions
// come from the global template's endpoint groups, every ARN, id and name
// from the stacks' resources.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
)

// GlobalRegion holds the global stack: Global Accelerator's control plane.
const GlobalRegion = "us-west-2"

// Defaults the library's stacks use, for values a template does not spell
// out as literals.
const (
	DefaultSpillPrefix = "spill"
	DefaultHealthPath  = "/health/deep"
	DefaultDial        = 100
)

// CloudFormation is the part of the CloudFormation client discovery uses.
type CloudFormation interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, opts ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	ListStackResources(ctx context.Context, in *cloudformation.ListStackResourcesInput, opts ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error)
	GetTemplate(ctx context.Context, in *cloudformation.GetTemplateInput, opts ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error)
}

// Pipeline is what the stacks say about a deployed pipeline.
type Pipeline struct {
	Name   string
	Global Stack
	// AcceleratorARN is the global stack's accelerator.
	AcceleratorARN string
	// Regions are sorted by name.
	Regions []*Region
}

// Stack is one deployed stack.
type Stack struct {
	Name    string            `json:"name"`
	Region  string            `json:"region"`
	Status  string            `json:"status"`
	Outputs map[string]string `json:"outputs,omitempty"`
}

// Region is one region of the pipeline: what the global stack holds for it
// (endpoint group, Route 53 health check) and what its own stack holds.
type Region struct {
	Name string
	// EndpointGroupARN is its Global Accelerator endpoint group, with the
	// traffic dial the template sets (TemplateDial).
	EndpointGroupARN string
	TemplateDial     float32
	// HealthCheckID is its Route 53 health check, with the ResourcePath the
	// template sets (TemplatePath).
	HealthCheckID string
	TemplatePath  string

	// Stack is <name>-<region>; StackErr says why it could not be read
	// (the fields below are then empty).
	Stack    Stack
	StackErr error
	// StreamName, SpillBucket and SpillPrefix are what ingest writes to;
	// ReplayDeadLetterQueue and ProcessorFailureQueue are queue URLs.
	StreamName            string
	SpillBucket           string
	SpillPrefix           string
	ReplayDeadLetterQueue string
	ProcessorFailureQueue string
	// SecretID is the API-key secret ingest reads (a name or ARN).
	SecretID string
}

// Region returns the region named name, or nil.
func (p *Pipeline) Region(name string) *Region {
	for _, r := range p.Regions {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// RegionNames lists the regions' names.
func (p *Pipeline) RegionNames() []string {
	var names []string
	for _, r := range p.Regions {
		names = append(names, r.Name)
	}
	return names
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,22}[a-z0-9]$`)

// ValidName checks a pipeline name as the library's configuration does.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("pipeline name %q: want 3-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen", name)
	}
	return nil
}

// ErrStackMissing is returned (wrapped) for a stack that does not exist.
var ErrStackMissing = errors.New("stack not found")

// Discoverer reads stacks with a deadline on every call.
type Discoverer struct {
	// CloudFormation returns the client for a region.
	CloudFormation func(region string) CloudFormation
	// Timeout bounds each call (default 10s).
	Timeout time.Duration
}

func (d *Discoverer) call(ctx context.Context) (context.Context, context.CancelFunc) {
	t := d.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return context.WithTimeout(ctx, t)
}

// Global reads the global stack <name>-global: the regions, their endpoint
// groups and health checks, the accelerator. The regional stacks are not
// read (see Regional).
func (d *Discoverer) Global(ctx context.Context, name string) (*Pipeline, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	cf := d.CloudFormation(GlobalRegion)
	stackName := name + "-global"
	st, err := d.describe(ctx, cf, GlobalRegion, stackName)
	if errors.Is(err, ErrStackMissing) {
		if others := d.pipelines(ctx, cf); len(others) > 0 {
			return nil, fmt.Errorf("%w; pipelines deployed in this account: %s", err, strings.Join(others, ", "))
		}
		return nil, fmt.Errorf("%w; no twinstream pipeline is deployed in this account (no stack named <name>-global in %s)", err, GlobalRegion)
	}
	if err != nil {
		return nil, err
	}
	res, err := d.resources(ctx, cf, GlobalRegion, stackName)
	if err != nil {
		return nil, err
	}
	tpl, err := d.template(ctx, cf, GlobalRegion, stackName)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{Name: name, Global: st}
	for _, r := range res {
		if r.typ == "AWS::GlobalAccelerator::Accelerator" {
			p.AcceleratorARN = r.physical
		}
	}
	if p.AcceleratorARN == "" {
		return nil, fmt.Errorf("stack %s in %s has no Global Accelerator (AWS::GlobalAccelerator::Accelerator): is it a twinstream global stack?", stackName, GlobalRegion)
	}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::GlobalAccelerator::EndpointGroup" {
			continue
		}
		var props struct {
			EndpointGroupRegion   string
			TrafficDialPercentage *float32
		}
		if err := json.Unmarshal(r.Properties, &props); err != nil || props.EndpointGroupRegion == "" {
			return nil, fmt.Errorf("stack %s: endpoint group %s has no literal EndpointGroupRegion in its template", stackName, id)
		}
		reg := &Region{Name: props.EndpointGroupRegion, TemplateDial: DefaultDial, TemplatePath: DefaultHealthPath}
		if props.TrafficDialPercentage != nil {
			reg.TemplateDial = *props.TrafficDialPercentage
		}
		if reg.EndpointGroupARN = physical(res, id); reg.EndpointGroupARN == "" {
			return nil, fmt.Errorf("stack %s: endpoint group %s (%s) is in the template but not deployed", stackName, id, reg.Name)
		}
		p.Regions = append(p.Regions, reg)
	}
	if len(p.Regions) == 0 {
		return nil, fmt.Errorf("stack %s in %s has no endpoint groups (AWS::GlobalAccelerator::EndpointGroup): is it a twinstream global stack?", stackName, GlobalRegion)
	}
	sort.Slice(p.Regions, func(i, j int) bool { return p.Regions[i].Name < p.Regions[j].Name })
	for _, reg := range p.Regions {
		id, path := healthCheck(tpl, name, reg.Name)
		if id == "" {
			return nil, fmt.Errorf("stack %s: no Route 53 health check for %s (logical id %s, or tag Name=%s-%s-deep)", stackName, reg.Name, "HealthCheck"+RegionID(reg.Name), name, reg.Name)
		}
		if path != "" {
			reg.TemplatePath = path
		}
		if reg.HealthCheckID = physical(res, id); reg.HealthCheckID == "" {
			return nil, fmt.Errorf("stack %s: health check %s (%s) is in the template but not deployed", stackName, id, reg.Name)
		}
	}
	return p, nil
}

// Regional reads every region's stack <name>-<region>. A stack that cannot
// be read leaves its Region.StackErr set; Regional returns an error only
// when no region's stack could be read.
func (d *Discoverer) Regional(ctx context.Context, p *Pipeline) error {
	done := make(chan struct{})
	for _, reg := range p.Regions {
		go func() {
			defer func() { done <- struct{}{} }()
			reg.StackErr = d.regional(ctx, p.Name, reg)
		}()
	}
	var errs []error
	for range p.Regions {
		<-done
	}
	for _, reg := range p.Regions {
		if reg.StackErr == nil {
			return nil
		}
		errs = append(errs, reg.StackErr)
	}
	return errors.Join(errs...)
}

// regional fills reg from its stack.
func (d *Discoverer) regional(ctx context.Context, name string, reg *Region) error {
	cf := d.CloudFormation(reg.Name)
	stackName := name + "-" + reg.Name
	st, err := d.describe(ctx, cf, reg.Name, stackName)
	if err != nil {
		return err
	}
	reg.Stack = st
	res, err := d.resources(ctx, cf, reg.Name, stackName)
	if err != nil {
		return err
	}
	tpl, err := d.template(ctx, cf, reg.Name, stackName)
	if err != nil {
		return err
	}
	// The ingest function's environment names what it writes to; a literal
	// there (an existing stream or bucket passed to the library) is used
	// when the stack holds no such resource.
	env := ingestEnv(tpl)
	reg.StreamName = first(find(res, "AWS::Kinesis::Stream", "PipelineStream"), env["STREAM_NAME"])
	reg.SpillBucket = first(find(res, "AWS::S3::Bucket", "PipelineSpillBucket"), env["SPILL_BUCKET"])
	reg.SpillPrefix = first(env["SPILL_PREFIX"], DefaultSpillPrefix)
	reg.SecretID = first(env["API_KEYS_SECRET_ARN"], name+"/api-keys")
	reg.ReplayDeadLetterQueue = find(res, "AWS::SQS::Queue", "PipelineReplayDeadLetterQueue")
	reg.ProcessorFailureQueue = find(res, "AWS::SQS::Queue", "PipelineProcessorFailureQueue")
	var missing []string
	for what, v := range map[string]string{"Kinesis stream": reg.StreamName, "spill bucket": reg.SpillBucket,
		"replay dead-letter queue": reg.ReplayDeadLetterQueue, "processor failure queue": reg.ProcessorFailureQueue} {
		if v == "" {
			missing = append(missing, what)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("stack %s in %s: no %s found: is it a twinstream regional stack?", stackName, reg.Name, strings.Join(missing, ", "))
	}
	return nil
}

// describe reads one stack; a stack that does not exist is ErrStackMissing.
func (d *Discoverer) describe(ctx context.Context, cf CloudFormation, region, stack string) (Stack, error) {
	cctx, cancel := d.call(ctx)
	defer cancel()
	out, err := cf.DescribeStacks(cctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist") {
			return Stack{}, fmt.Errorf("stack %s: %w in %s", stack, ErrStackMissing, region)
		}
		return Stack{}, fmt.Errorf("describe stack %s in %s: %w", stack, region, err)
	}
	if len(out.Stacks) == 0 {
		return Stack{}, fmt.Errorf("stack %s: %w in %s", stack, ErrStackMissing, region)
	}
	s := out.Stacks[0]
	st := Stack{Name: stack, Region: region, Status: string(s.StackStatus), Outputs: map[string]string{}}
	for _, o := range s.Outputs {
		st.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return st, nil
}

// pipelines lists the names of the twinstream pipelines whose global stacks
// are in GlobalRegion (tag pipeline=<name>, stack <name>-global), for an
// error that says which names exist. Best effort: errors give none.
func (d *Discoverer) pipelines(ctx context.Context, cf CloudFormation) []string {
	var names []string
	var next *string
	for range 20 { // pages of 100: an account's stacks, within reason
		cctx, cancel := d.call(ctx)
		out, err := cf.DescribeStacks(cctx, &cloudformation.DescribeStacksInput{NextToken: next})
		cancel()
		if err != nil {
			return names
		}
		for _, s := range out.Stacks {
			if s.StackStatus == types.StackStatusDeleteComplete {
				continue
			}
			for _, t := range s.Tags {
				if aws.ToString(t.Key) == "pipeline" && aws.ToString(s.StackName) == aws.ToString(t.Value)+"-global" {
					names = append(names, aws.ToString(t.Value))
				}
			}
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	sort.Strings(names)
	return names
}

type resource struct {
	logical, physical, typ string
}

// resources lists a stack's resources (every page).
func (d *Discoverer) resources(ctx context.Context, cf CloudFormation, region, stack string) ([]resource, error) {
	var res []resource
	var next *string
	for {
		cctx, cancel := d.call(ctx)
		out, err := cf.ListStackResources(cctx, &cloudformation.ListStackResourcesInput{StackName: aws.String(stack), NextToken: next})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list resources of stack %s in %s: %w", stack, region, err)
		}
		for _, r := range out.StackResourceSummaries {
			res = append(res, resource{aws.ToString(r.LogicalResourceId), aws.ToString(r.PhysicalResourceId), aws.ToString(r.ResourceType)})
		}
		if next = out.NextToken; next == nil {
			return res, nil
		}
	}
}

type template struct {
	Resources map[string]struct {
		Type       string
		Properties json.RawMessage
	}
}

// template reads a stack's deployed template (JSON, as CDK writes it).
func (d *Discoverer) template(ctx context.Context, cf CloudFormation, region, stack string) (*template, error) {
	cctx, cancel := d.call(ctx)
	defer cancel()
	out, err := cf.GetTemplate(cctx, &cloudformation.GetTemplateInput{StackName: aws.String(stack), TemplateStage: types.TemplateStageOriginal})
	if err != nil {
		return nil, fmt.Errorf("get template of stack %s in %s: %w", stack, region, err)
	}
	var t template
	if err := json.Unmarshal([]byte(aws.ToString(out.TemplateBody)), &t); err != nil {
		return nil, fmt.Errorf("template of stack %s in %s is not the JSON CDK deploys: %w", stack, region, err)
	}
	return &t, nil
}

// healthCheck finds the region's Route 53 health check in the global
// template: logical id HealthCheck<RegionID> or tag Name=<name>-<region>-deep
// (both the library's); it returns its logical id and ResourcePath.
func healthCheck(t *template, name, region string) (id, path string) {
	for lid, r := range t.Resources {
		if r.Type != "AWS::Route53::HealthCheck" {
			continue
		}
		var props struct {
			HealthCheckConfig struct{ ResourcePath string }
			HealthCheckTags   []struct{ Key, Value string }
		}
		_ = json.Unmarshal(r.Properties, &props)
		match := lid == "HealthCheck"+RegionID(region)
		for _, tag := range props.HealthCheckTags {
			match = match || (tag.Key == "Name" && tag.Value == name+"-"+region+"-deep")
		}
		if match {
			return lid, props.HealthCheckConfig.ResourcePath
		}
	}
	return "", ""
}

// RegionID turns a region into the library's construct id part:
// us-east-1 -> UsEast1.
func RegionID(region string) string {
	var b strings.Builder
	for _, p := range strings.Split(region, "-") {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// ingestEnv returns the literal environment variables of the ingest
// function (logical id PipelineIngestFunction...).
func ingestEnv(t *template) map[string]string {
	env := map[string]string{}
	for id, r := range t.Resources {
		if r.Type != "AWS::Lambda::Function" || !strings.HasPrefix(id, "PipelineIngestFunction") {
			continue
		}
		var props struct {
			Environment struct{ Variables map[string]json.RawMessage }
		}
		_ = json.Unmarshal(r.Properties, &props)
		for k, raw := range props.Environment.Variables {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				env[k] = s
			}
		}
	}
	return env
}

// find returns the physical id of the one resource of type typ whose
// logical id starts with prefix.
func find(res []resource, typ, prefix string) string {
	for _, r := range res {
		if r.typ == typ && strings.HasPrefix(r.logical, prefix) {
			return r.physical
		}
	}
	return ""
}

func physical(res []resource, logical string) string {
	for _, r := range res {
		if r.logical == logical {
			return r.physical
		}
	}
	return ""
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
