package drill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file reads the synthesized CloudFormation templates (cdk.out), so the
// drill runs the configuration that would be deployed: the functions'
// environment, timeouts and memory, the ALB listener rules, the target
// groups' health checks, the event source mappings and the global stack's
// accelerator and Route 53 settings. Anything it cannot read faithfully is an
// error naming what is missing, never a guessed default.

// HealthCheck is a health check's settings.
type HealthCheck struct {
	Path                                 string
	Interval, Timeout                    time.Duration
	HealthyThreshold, UnhealthyThreshold int
}

// Route is one ALB listener rule.
type Route struct {
	Priority int
	// Paths are the rule's path patterns as in the template, e.g. "/health/*".
	Paths []string
	// Function is the rule's target: "ingest", "health", "processor" or "replay".
	Function string
}

// Value is an environment variable's value in the template: a literal, or a
// reference to one of the stack's resources.
type Value struct {
	Literal string
	// Ref is the logical id when the template has {"Ref": id}.
	Ref string
	// RefType is that resource's Type, e.g. AWS::Kinesis::Stream.
	RefType string
}

// FunctionSpec is one of the pipeline's four Lambda functions.
type FunctionSpec struct {
	// Name is ingest, health, processor or replay.
	Name      string
	LogicalID string
	Env       map[string]Value
	Timeout   time.Duration
	MemoryMB  int
}

// KinesisESM is the processor's Kinesis event source mapping.
type KinesisESM struct {
	BatchSize               int
	MaxBatchingWindow       time.Duration
	BisectOnError           bool
	MaxRetryAttempts        int // -1: until the record expires
	ParallelizationFactor   int
	ReportBatchItemFailures bool
	StartingPosition        string
}

// SQSESM is the replay function's SQS event source mapping.
type SQSESM struct {
	BatchSize               int
	ReportBatchItemFailures bool
}

// RegionSpec is one regional stack.
type RegionSpec struct {
	Region, StackName string
	// Functions by Name.
	Functions map[string]FunctionSpec
	// Routes are the serving listener's rules, ascending priority. The
	// listener's default action is a 404 fixed response (ReadApp checks it).
	Routes []Route
	// IngestHealth and DeepHealth are the checks of the target groups of
	// the ingest and the health function (DeepHealth: /health/deep).
	IngestHealth, DeepHealth HealthCheck
	Kinesis                  KinesisESM
	Replay                   SQSESM
	// The replay queue's settings.
	ReplayVisibilityTimeout time.Duration
	ReplayMaxReceiveCount   int // 0: no dead-letter queue
	// Shards is the provisioned shard count, 0 for on-demand.
	Shards int
}

// AppSpec is the whole app: the regional stacks and the global stack.
type AppSpec struct {
	// Regions in the app's order: the primary (the one holding the API-key
	// secret) first.
	Regions []RegionSpec
	// GlobalListenerPort is the accelerator listener's port.
	GlobalListenerPort int
	// Route53 is the Route 53 health checks' path, RequestInterval and
	// FailureThreshold (both thresholds: Route 53 uses it in both
	// directions). Timeout stays 0: Route 53 has no timeout setting.
	Route53 HealthCheck
}

// Function names, as in the construct ids "Pipeline<Name>Function".
var tplFunctionNames = []string{"ingest", "health", "processor", "replay"}

// tplFunctionID matches the logical ids CDK gives the Pipeline's functions
// (construct path Pipeline/<Name>Function plus an 8-hex-digit hash); the
// construct ids are API.
var tplFunctionID = regexp.MustCompile(`^Pipeline(Ingest|Health|Processor|Replay)Function[0-9A-F]{8}$`)

// tplRegionSuffix finds the region at the end of a stack name
// ("twinstream-us-east-1") when there is no manifest.
var tplRegionSuffix = regexp.MustCompile(`[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)

type tplResource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

type tplTemplate struct {
	Resources map[string]tplResource `json:"Resources"`
}

// tplStack is one stack found in dir.
type tplStack struct {
	name, region, file string
	t                  *tplTemplate
}

// ReadApp reads the app's three templates from dir: a cdk.out (its
// manifest.json names the stacks, their regions and template files) or a
// folder holding the *.template.json files (regions then come from the
// global stack's cross-region references or the stack names).
func ReadApp(dir string) (*AppSpec, error) {
	stacks, err := tplFindStacks(dir)
	if err != nil {
		return nil, err
	}
	var global *tplStack
	var regional []*tplStack
	for _, s := range stacks {
		if s.t.has("AWS::GlobalAccelerator::Accelerator") {
			if global != nil {
				return nil, fmt.Errorf("drill: two global stacks (with an AWS::GlobalAccelerator::Accelerator): %s and %s", global.name, s.name)
			}
			global = s
			continue
		}
		regional = append(regional, s)
	}
	if global == nil {
		return nil, fmt.Errorf("drill: %s: no global stack (a template with an AWS::GlobalAccelerator::Accelerator)", dir)
	}
	if len(regional) == 0 {
		return nil, fmt.Errorf("drill: %s: no regional stacks", dir)
	}

	app := &AppSpec{}
	if err := tplGlobal(global, app); err != nil {
		return nil, fmt.Errorf("drill: stack %s: %w", global.name, err)
	}
	if err := tplRegions(global, regional); err != nil {
		return nil, err
	}
	// The primary first, the others in the app's order.
	primary := -1
	for i, s := range regional {
		if s.t.createsSecret() {
			if primary >= 0 {
				return nil, fmt.Errorf("drill: two stacks create the API-key secret: %s and %s; want one primary", regional[primary].name, s.name)
			}
			primary = i
		}
	}
	if primary < 0 {
		return nil, fmt.Errorf("drill: no regional stack creates the API-key secret (an AWS::SecretsManager::Secret, or a custom resource calling CreateSecret): no primary region")
	}
	regional = append(append([]*tplStack{regional[primary]}, regional[:primary]...), regional[primary+1:]...)

	for _, s := range regional {
		rs, err := tplRegion(s)
		if err != nil {
			return nil, fmt.Errorf("drill: stack %s: %w", s.name, err)
		}
		app.Regions = append(app.Regions, rs)
	}
	if err := tplCheckEndpoints(global, app.Regions); err != nil {
		return nil, fmt.Errorf("drill: stack %s: %w", global.name, err)
	}
	return app, nil
}

// ResolveEnv returns the function's environment with every reference
// mapped through resolve; literals pass through unchanged.
func (f FunctionSpec) ResolveEnv(resolve func(v Value) (string, error)) (map[string]string, error) {
	out := make(map[string]string, len(f.Env))
	for k, v := range f.Env {
		if v.Ref == "" {
			out[k] = v.Literal
			continue
		}
		if resolve == nil {
			return nil, fmt.Errorf("function %s: env %s: no resolver for Ref %s (%s)", f.Name, k, v.Ref, v.RefType)
		}
		s, err := resolve(v)
		if err != nil {
			return nil, fmt.Errorf("function %s: env %s: %w", f.Name, k, err)
		}
		out[k] = s
	}
	return out, nil
}

// tplFindStacks lists the stacks in dir: from manifest.json when there is
// one, in its order, else every *.template.json in name order.
func tplFindStacks(dir string) ([]*tplStack, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	var stacks []*tplStack
	switch {
	case err == nil:
		if stacks, err = tplManifest(b); err != nil {
			return nil, fmt.Errorf("drill: %s: %w", filepath.Join(dir, "manifest.json"), err)
		}
	case errors.Is(err, os.ErrNotExist):
		files, err := filepath.Glob(filepath.Join(dir, "*.template.json"))
		if err != nil {
			return nil, fmt.Errorf("drill: %s: %w", dir, err)
		}
		sort.Strings(files)
		for _, f := range files {
			stacks = append(stacks, &tplStack{name: strings.TrimSuffix(filepath.Base(f), ".template.json"), file: filepath.Base(f)})
		}
	default:
		return nil, fmt.Errorf("drill: %w", err)
	}
	if len(stacks) == 0 {
		return nil, fmt.Errorf("drill: %s: no stacks (want a cdk.out with manifest.json, or *.template.json files)", dir)
	}
	for _, s := range stacks {
		b, err := os.ReadFile(filepath.Join(dir, s.file))
		if err != nil {
			return nil, fmt.Errorf("drill: stack %s: %w", s.name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var t tplTemplate
		if err := dec.Decode(&t); err != nil {
			return nil, fmt.Errorf("drill: stack %s: %s: %w", s.name, s.file, err)
		}
		if len(t.Resources) == 0 {
			return nil, fmt.Errorf("drill: stack %s: %s has no Resources", s.name, s.file)
		}
		s.t = &t
	}
	return stacks, nil
}

type tplArtifact struct {
	Type        string `json:"type"`
	Environment string `json:"environment"`
	Properties  struct {
		TemplateFile string `json:"templateFile"`
		StackName    string `json:"stackName"`
	} `json:"properties"`
}

// tplManifest reads the CloudFormation stacks of a cloud assembly manifest
// in the order they appear there (a Go map would lose it).
func tplManifest(b []byte) ([]*tplStack, error) {
	var m struct {
		Artifacts json.RawMessage `json:"artifacts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m.Artifacts) == 0 {
		return nil, errors.New("no artifacts")
	}
	dec := json.NewDecoder(bytes.NewReader(m.Artifacts))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("artifacts: want an object")
	}
	var stacks []*tplStack
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
		id, _ := tok.(string)
		var a tplArtifact
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("artifact %s: %w", id, err)
		}
		if a.Type != "aws:cloudformation:stack" {
			continue
		}
		// environment is aws://<account>/<region>.
		parts := strings.Split(strings.TrimPrefix(a.Environment, "aws://"), "/")
		if !strings.HasPrefix(a.Environment, "aws://") || len(parts) != 2 || parts[1] == "" || parts[1] == "unknown-region" {
			return nil, fmt.Errorf("artifact %s: environment %q names no region (want aws://<account>/<region>)", id, a.Environment)
		}
		if a.Properties.TemplateFile == "" {
			return nil, fmt.Errorf("artifact %s: no properties.templateFile", id)
		}
		name := a.Properties.StackName
		if name == "" {
			name = id
		}
		stacks = append(stacks, &tplStack{name: name, region: parts[1], file: a.Properties.TemplateFile})
	}
	return stacks, nil
}

// tplRegions gives each regional stack found without a manifest its region:
// from the global stack's cross-region references
// ({"Fn::GetStackOutput": {"StackName", "Region"}}), else from the end of
// the stack name.
func tplRegions(global *tplStack, regional []*tplStack) error {
	refs := map[string]string{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if o, ok := v["Fn::GetStackOutput"].(map[string]any); ok {
				name, _ := o["StackName"].(string)
				region, _ := o["Region"].(string)
				if name != "" && region != "" {
					refs[name] = region
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, r := range global.t.Resources {
		walk(r.Properties)
	}
	for _, s := range regional {
		if s.region != "" {
			continue
		}
		if r, ok := refs[s.name]; ok {
			s.region = r
		} else if r := tplRegionSuffix.FindString(s.name); r != "" {
			s.region = r
		} else {
			return fmt.Errorf("drill: stack %s: region unknown (no manifest.json, no reference from the global stack, no region at the end of the name)", s.name)
		}
	}
	return nil
}

// tplGlobal reads the accelerator listener's port and the Route 53 checks.
func tplGlobal(s *tplStack, app *AppSpec) error {
	ids := s.t.ofType("AWS::GlobalAccelerator::Listener")
	if len(ids) != 1 {
		return fmt.Errorf("want one AWS::GlobalAccelerator::Listener, found %d", len(ids))
	}
	p := s.t.Resources[ids[0]].Properties
	ranges, _ := p["PortRanges"].([]any)
	if len(ranges) != 1 {
		return fmt.Errorf("listener %s: want one PortRanges entry, found %d", ids[0], len(ranges))
	}
	pr, _ := ranges[0].(map[string]any)
	from, err := tplInt(pr, "FromPort")
	if err != nil {
		return fmt.Errorf("listener %s: PortRanges: %w", ids[0], err)
	}
	if to, err := tplIntOr(pr, "ToPort", from); err != nil || to != from {
		return fmt.Errorf("listener %s: want a single port, got %v-%v", ids[0], pr["FromPort"], pr["ToPort"])
	}
	app.GlobalListenerPort = from

	checks := s.t.ofType("AWS::Route53::HealthCheck")
	if len(checks) == 0 {
		return errors.New("no AWS::Route53::HealthCheck")
	}
	for i, id := range checks {
		c, ok := s.t.Resources[id].Properties["HealthCheckConfig"].(map[string]any)
		if !ok {
			return fmt.Errorf("health check %s: no HealthCheckConfig", id)
		}
		// Route 53's defaults: 30 s, 3 failures, path "/".
		interval, err := tplIntOr(c, "RequestInterval", 30)
		if err != nil {
			return fmt.Errorf("health check %s: %w", id, err)
		}
		threshold, err := tplIntOr(c, "FailureThreshold", 3)
		if err != nil {
			return fmt.Errorf("health check %s: %w", id, err)
		}
		path, err := tplStringOr(c, "ResourcePath", "/")
		if err != nil {
			return fmt.Errorf("health check %s: %w", id, err)
		}
		hc := HealthCheck{Path: path, Interval: time.Duration(interval) * time.Second, HealthyThreshold: threshold, UnhealthyThreshold: threshold}
		if i > 0 && hc != app.Route53 {
			return fmt.Errorf("health checks %s and %s differ (%+v, %+v): the drill models one setting", checks[0], id, app.Route53, hc)
		}
		app.Route53 = hc
	}
	return nil
}

// tplCheckEndpoints checks that the accelerator has an endpoint group for
// each regional stack and none for a region without one.
func tplCheckEndpoints(global *tplStack, regions []RegionSpec) error {
	var groups []string
	for _, id := range global.t.ofType("AWS::GlobalAccelerator::EndpointGroup") {
		r, err := tplString(global.t.Resources[id].Properties, "EndpointGroupRegion")
		if err != nil {
			return fmt.Errorf("endpoint group %s: %w", id, err)
		}
		groups = append(groups, r)
	}
	for _, rs := range regions {
		if !slices.Contains(groups, rs.Region) {
			return fmt.Errorf("the accelerator has no endpoint group in %s (stack %s); it has %v", rs.Region, rs.StackName, groups)
		}
	}
	for _, g := range groups {
		if !slices.ContainsFunc(regions, func(rs RegionSpec) bool { return rs.Region == g }) {
			return fmt.Errorf("the accelerator has an endpoint group in %s, which has no regional stack", g)
		}
	}
	return nil
}

// tplRegion reads one regional stack.
func tplRegion(s *tplStack) (RegionSpec, error) {
	t := s.t
	rs := RegionSpec{Region: s.region, StackName: s.name, Functions: map[string]FunctionSpec{}}
	byID := map[string]string{} // function logical id -> name
	for _, id := range t.ofType("AWS::Lambda::Function") {
		m := tplFunctionID.FindStringSubmatch(id)
		if m == nil {
			continue
		}
		name := strings.ToLower(m[1])
		if prev, ok := rs.Functions[name]; ok {
			return rs, fmt.Errorf("two %s functions: %s and %s", name, prev.LogicalID, id)
		}
		fs, err := tplFunction(t, name, id)
		if err != nil {
			return rs, err
		}
		rs.Functions[name] = fs
		byID[id] = name
	}
	for _, name := range tplFunctionNames {
		if _, ok := rs.Functions[name]; !ok {
			return rs, fmt.Errorf("no %s function (an AWS::Lambda::Function with logical id Pipeline%sFunction<hash>)", name, strings.ToUpper(name[:1])+name[1:])
		}
	}

	groups, err := tplTargetGroups(t, byID)
	if err != nil {
		return rs, err
	}
	for fn, dst := range map[string]*HealthCheck{"ingest": &rs.IngestHealth, "health": &rs.DeepHealth} {
		var found []string
		for id, g := range groups {
			if g.fn == fn {
				found = append(found, id)
			}
		}
		if len(found) != 1 {
			return rs, fmt.Errorf("want one lambda target group for the %s function, found %d", fn, len(found))
		}
		*dst = groups[found[0]].check
	}
	if rs.Routes, err = tplRoutes(t, groups); err != nil {
		return rs, err
	}
	if err := tplESMs(t, &rs); err != nil {
		return rs, err
	}
	return rs, nil
}

func tplFunction(t *tplTemplate, name, id string) (FunctionSpec, error) {
	p := t.Resources[id].Properties
	fs := FunctionSpec{Name: name, LogicalID: id, Env: map[string]Value{}}
	// Lambda's defaults when the template leaves them out: 3 s, 128 MB.
	timeout, err := tplIntOr(p, "Timeout", 3)
	if err != nil {
		return fs, fmt.Errorf("function %s (%s): %w", name, id, err)
	}
	fs.Timeout = time.Duration(timeout) * time.Second
	if fs.MemoryMB, err = tplIntOr(p, "MemorySize", 128); err != nil {
		return fs, fmt.Errorf("function %s (%s): %w", name, id, err)
	}
	env, _ := p["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	for k, v := range vars {
		switch v := v.(type) {
		case string:
			fs.Env[k] = Value{Literal: v}
		case map[string]any:
			ref, ok := v["Ref"].(string)
			if !ok || len(v) != 1 {
				return fs, fmt.Errorf("function %s (%s): env %s: %s is not supported (want a string or {\"Ref\": id})", name, id, k, tplShow(v))
			}
			r, ok := t.Resources[ref]
			if !ok {
				return fs, fmt.Errorf("function %s (%s): env %s: Ref %s is not a resource of the stack", name, id, k, ref)
			}
			fs.Env[k] = Value{Ref: ref, RefType: r.Type}
		default:
			return fs, fmt.Errorf("function %s (%s): env %s: %s is not supported (want a string or {\"Ref\": id})", name, id, k, tplShow(v))
		}
	}
	return fs, nil
}

type tplGroup struct {
	fn    string // target function name
	check HealthCheck
}

// tplTargetGroups reads the lambda target groups whose target is one of the
// pipeline's functions.
func tplTargetGroups(t *tplTemplate, byID map[string]string) (map[string]tplGroup, error) {
	out := map[string]tplGroup{}
	for _, id := range t.ofType("AWS::ElasticLoadBalancingV2::TargetGroup") {
		p := t.Resources[id].Properties
		if tt, _ := p["TargetType"].(string); tt != "lambda" {
			continue
		}
		targets, _ := p["Targets"].([]any)
		if len(targets) != 1 {
			return nil, fmt.Errorf("target group %s: want one lambda target, found %d", id, len(targets))
		}
		tg, _ := targets[0].(map[string]any)
		fnID, attr, ok := tplGetAtt(tg["Id"])
		if !ok || attr != "Arn" {
			return nil, fmt.Errorf("target group %s: target Id %s: want {\"Fn::GetAtt\": [function, \"Arn\"]}", id, tplShow(tg["Id"]))
		}
		fn, ok := byID[fnID]
		if !ok {
			return nil, fmt.Errorf("target group %s: target %s is not one of the pipeline's functions", id, fnID)
		}
		// Health checks of lambda target groups are off unless enabled, and
		// an ALB endpoint's health is what moves Global Accelerator traffic.
		if on, err := tplBoolOr(p, "HealthCheckEnabled", false); err != nil || !on {
			return nil, fmt.Errorf("target group %s (%s function): HealthCheckEnabled is %s: want true (lambda target groups have health checks off unless enabled)", id, fn, tplShow(p["HealthCheckEnabled"]))
		}
		// ELB's defaults for lambda targets: path /, 35 s interval, 30 s
		// timeout, 5 healthy, 2 unhealthy.
		var hc HealthCheck
		var errs []error
		var err error
		hc.Path, err = tplStringOr(p, "HealthCheckPath", "/")
		errs = append(errs, err)
		interval, err := tplIntOr(p, "HealthCheckIntervalSeconds", 35)
		errs = append(errs, err)
		timeout, err := tplIntOr(p, "HealthCheckTimeoutSeconds", 30)
		errs = append(errs, err)
		hc.HealthyThreshold, err = tplIntOr(p, "HealthyThresholdCount", 5)
		errs = append(errs, err)
		hc.UnhealthyThreshold, err = tplIntOr(p, "UnhealthyThresholdCount", 2)
		errs = append(errs, err)
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("target group %s: %w", id, err)
		}
		hc.Interval, hc.Timeout = time.Duration(interval)*time.Second, time.Duration(timeout)*time.Second
		out[id] = tplGroup{fn: fn, check: hc}
	}
	return out, nil
}

// tplRoutes reads the rules of the serving listener: the HTTPS one when
// there is one (with a domain the HTTP listener only redirects), else the
// HTTP one.
func tplRoutes(t *tplTemplate, groups map[string]tplGroup) ([]Route, error) {
	byProto := map[string][]string{}
	for _, id := range t.ofType("AWS::ElasticLoadBalancingV2::Listener") {
		proto, _ := t.Resources[id].Properties["Protocol"].(string)
		byProto[proto] = append(byProto[proto], id)
	}
	ids := byProto["HTTPS"]
	if len(ids) == 0 {
		ids = byProto["HTTP"]
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("want one HTTPS or, without it, one HTTP load balancer listener; found %d", len(ids))
	}
	listener := ids[0]
	// The front answers unmatched paths with 404, as this default action does.
	acts, _ := t.Resources[listener].Properties["DefaultActions"].([]any)
	if len(acts) != 1 || !tplIs404(acts[0]) {
		return nil, fmt.Errorf("listener %s: default action %s: want a fixed-response 404", listener, tplShow(acts))
	}

	var routes []Route
	for _, id := range t.ofType("AWS::ElasticLoadBalancingV2::ListenerRule") {
		p := t.Resources[id].Properties
		if ref, _ := tplRef(p["ListenerArn"]); ref != listener {
			continue
		}
		r, err := tplRule(t, id, p, groups)
		if err != nil {
			return nil, fmt.Errorf("listener rule %s: %w", id, err)
		}
		routes = append(routes, r)
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("listener %s has no rules", listener)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Priority < routes[j].Priority })
	for i := 1; i < len(routes); i++ {
		if routes[i].Priority == routes[i-1].Priority {
			return nil, fmt.Errorf("listener %s: two rules with priority %d", listener, routes[i].Priority)
		}
	}
	return routes, nil
}

func tplIs404(a any) bool {
	m, _ := a.(map[string]any)
	if typ, _ := m["Type"].(string); typ != "fixed-response" {
		return false
	}
	c, _ := m["FixedResponseConfig"].(map[string]any)
	code, err := tplInt(c, "StatusCode")
	return err == nil && code == 404
}

func tplRule(t *tplTemplate, id string, p map[string]any, groups map[string]tplGroup) (Route, error) {
	var r Route
	var err error
	if r.Priority, err = tplInt(p, "Priority"); err != nil {
		return r, err
	}
	conds, _ := p["Conditions"].([]any)
	if len(conds) == 0 {
		return r, errors.New("no Conditions")
	}
	for _, c := range conds {
		m, _ := c.(map[string]any)
		field, _ := m["Field"].(string)
		if field == "" && m["PathPatternConfig"] != nil {
			field = "path-pattern"
		}
		if field != "path-pattern" {
			return r, fmt.Errorf("condition %s: only path-pattern conditions are modelled", tplShow(c))
		}
		vals, ok := m["Values"].([]any)
		if pc, isMap := m["PathPatternConfig"].(map[string]any); isMap {
			vals, ok = pc["Values"].([]any)
		}
		if !ok || len(vals) == 0 {
			return r, fmt.Errorf("condition %s: no path patterns", tplShow(c))
		}
		// Several path-pattern conditions must all match; the front
		// models one list of alternatives.
		if r.Paths != nil {
			return r, errors.New("more than one path-pattern condition")
		}
		for _, v := range vals {
			s, ok := v.(string)
			if !ok {
				return r, fmt.Errorf("path pattern %s: want a string", tplShow(v))
			}
			r.Paths = append(r.Paths, s)
		}
	}
	acts, _ := p["Actions"].([]any)
	if len(acts) != 1 {
		return r, fmt.Errorf("want one action, found %d", len(acts))
	}
	a, _ := acts[0].(map[string]any)
	if typ, _ := a["Type"].(string); typ != "forward" {
		return r, fmt.Errorf("action %s: want type forward", tplShow(acts[0]))
	}
	tgID, ok := tplRef(a["TargetGroupArn"])
	if !ok {
		// CDK writes ForwardConfig for weighted forwards: one group is the
		// same as a plain forward.
		fc, _ := a["ForwardConfig"].(map[string]any)
		tgs, _ := fc["TargetGroups"].([]any)
		if len(tgs) == 1 {
			m, _ := tgs[0].(map[string]any)
			tgID, ok = tplRef(m["TargetGroupArn"])
		}
	}
	if !ok {
		return r, fmt.Errorf("action %s: want a forward to one {\"Ref\": target group}", tplShow(acts[0]))
	}
	g, ok := groups[tgID]
	if !ok {
		typ := t.Resources[tgID].Type
		return r, fmt.Errorf("forwards to %s (%s), not a lambda target group of the pipeline's functions", tgID, typ)
	}
	r.Function = g.fn
	return r, nil
}

// tplESMs reads the processor's Kinesis and the replay function's SQS
// event source mappings, the replay queue and the stream.
func tplESMs(t *tplTemplate, rs *RegionSpec) error {
	find := func(fn string) (string, error) {
		var found []string
		for _, id := range t.ofType("AWS::Lambda::EventSourceMapping") {
			if ref, _ := tplRef(t.Resources[id].Properties["FunctionName"]); ref == rs.Functions[fn].LogicalID {
				found = append(found, id)
			}
		}
		if len(found) != 1 {
			return "", fmt.Errorf("want one event source mapping with FunctionName {\"Ref\": %q} (the %s function), found %d", rs.Functions[fn].LogicalID, fn, len(found))
		}
		return found[0], nil
	}
	source := func(id, wantType string) (string, map[string]any, error) {
		src, attr, ok := tplGetAtt(t.Resources[id].Properties["EventSourceArn"])
		if !ok || attr != "Arn" || t.Resources[src].Type != wantType {
			return "", nil, fmt.Errorf("event source mapping %s: EventSourceArn %s: want {\"Fn::GetAtt\": [<%s>, \"Arn\"]}", id, tplShow(t.Resources[id].Properties["EventSourceArn"]), wantType)
		}
		return src, t.Resources[src].Properties, nil
	}

	// Kinesis -> processor. Defaults are Lambda's for stream sources.
	id, err := find("processor")
	if err != nil {
		return err
	}
	p := t.Resources[id].Properties
	k := &rs.Kinesis
	var errs []error
	k.BatchSize, err = tplIntOr(p, "BatchSize", 100)
	errs = append(errs, err)
	window, err := tplIntOr(p, "MaximumBatchingWindowInSeconds", 0)
	errs = append(errs, err)
	k.MaxBatchingWindow = time.Duration(window) * time.Second
	k.BisectOnError, err = tplBoolOr(p, "BisectBatchOnFunctionError", false)
	errs = append(errs, err)
	k.MaxRetryAttempts, err = tplIntOr(p, "MaximumRetryAttempts", -1)
	errs = append(errs, err)
	k.ParallelizationFactor, err = tplIntOr(p, "ParallelizationFactor", 1)
	errs = append(errs, err)
	k.StartingPosition, err = tplString(p, "StartingPosition")
	errs = append(errs, err)
	k.ReportBatchItemFailures = tplReportsFailures(p)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("event source mapping %s: %w", id, err)
	}
	streamID, sp, err := source(id, "AWS::Kinesis::Stream")
	if err != nil {
		return err
	}
	mode := ""
	if md, ok := sp["StreamModeDetails"].(map[string]any); ok {
		mode, _ = md["StreamMode"].(string)
	}
	switch mode {
	case "ON_DEMAND":
		rs.Shards = 0
	case "PROVISIONED", "":
		if rs.Shards, err = tplInt(sp, "ShardCount"); err != nil {
			return fmt.Errorf("stream %s: provisioned: %w", streamID, err)
		}
	default:
		return fmt.Errorf("stream %s: StreamMode %q: want ON_DEMAND or PROVISIONED", streamID, mode)
	}

	// SQS -> replay; Lambda's default batch size for queues is 10.
	if id, err = find("replay"); err != nil {
		return err
	}
	p = t.Resources[id].Properties
	if rs.Replay.BatchSize, err = tplIntOr(p, "BatchSize", 10); err != nil {
		return fmt.Errorf("event source mapping %s: %w", id, err)
	}
	rs.Replay.ReportBatchItemFailures = tplReportsFailures(p)
	queueID, qp, err := source(id, "AWS::SQS::Queue")
	if err != nil {
		return err
	}
	vis, err := tplIntOr(qp, "VisibilityTimeout", 30) // SQS's default
	if err != nil {
		return fmt.Errorf("queue %s: %w", queueID, err)
	}
	rs.ReplayVisibilityTimeout = time.Duration(vis) * time.Second
	switch rp := qp["RedrivePolicy"].(type) {
	case nil:
	case string: // CloudFormation also takes the policy as a JSON string
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(rp))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("queue %s: RedrivePolicy: %w", queueID, err)
		}
		if rs.ReplayMaxReceiveCount, err = tplInt(m, "maxReceiveCount"); err != nil {
			return fmt.Errorf("queue %s: RedrivePolicy: %w", queueID, err)
		}
	case map[string]any:
		if rs.ReplayMaxReceiveCount, err = tplInt(rp, "maxReceiveCount"); err != nil {
			return fmt.Errorf("queue %s: RedrivePolicy: %w", queueID, err)
		}
	default:
		return fmt.Errorf("queue %s: RedrivePolicy %s: want an object", queueID, tplShow(rp))
	}
	return nil
}

func tplReportsFailures(p map[string]any) bool {
	types, _ := p["FunctionResponseTypes"].([]any)
	return slices.Contains(types, any("ReportBatchItemFailures"))
}

// has reports whether the template has a resource of type typ.
func (t *tplTemplate) has(typ string) bool { return len(t.ofType(typ)) > 0 }

// createsSecret reports whether the stack creates a Secrets Manager secret:
// an AWS::SecretsManager::Secret, or a custom resource (CDK's
// AwsCustomResource) whose Create call is CreateSecret, which is how a stack
// keeps a secret that survives the stack's removal.
func (t *tplTemplate) createsSecret() bool {
	if t.has("AWS::SecretsManager::Secret") {
		return true
	}
	for _, r := range t.Resources {
		if !strings.HasPrefix(r.Type, "Custom::") && r.Type != "AWS::CloudFormation::CustomResource" {
			continue
		}
		create, ok := r.Properties["Create"]
		if !ok {
			continue
		}
		b, err := json.Marshal(create)
		if err != nil {
			continue
		}
		// Create is the call as a JSON string (or an Fn::Join of its parts).
		if tplCreateSecret.Match(b) {
			return true
		}
	}
	return false
}

// tplCreateSecret finds "action":"CreateSecret" in a custom resource's
// Create property, JSON inside a JSON string.
var tplCreateSecret = regexp.MustCompile(`\\?"action\\?"\s*:\s*\\?"CreateSecret\\?"`)

// ofType lists the logical ids of the resources of type typ, sorted.
func (t *tplTemplate) ofType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// tplRef returns id for {"Ref": id}.
func tplRef(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	id, ok := m["Ref"].(string)
	return id, ok
}

// tplGetAtt returns id and attribute for {"Fn::GetAtt": [id, attr]}.
func tplGetAtt(v any) (id, attr string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", "", false
	}
	l, _ := m["Fn::GetAtt"].([]any)
	if len(l) != 2 {
		return "", "", false
	}
	id, ok1 := l[0].(string)
	attr, ok2 := l[1].(string)
	return id, attr, ok1 && ok2
}

// tplInt reads an integer property; CloudFormation takes numbers and
// numeric strings alike.
func tplInt(p map[string]any, key string) (int, error) {
	v, ok := p[key]
	if !ok {
		return 0, fmt.Errorf("no %s", key)
	}
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = v
	default:
		return 0, fmt.Errorf("%s = %s: want an integer", key, tplShow(v))
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s = %s: want an integer", key, tplShow(v))
	}
	return n, nil
}

// tplIntOr is tplInt with def for an absent property (AWS's default).
func tplIntOr(p map[string]any, key string, def int) (int, error) {
	if _, ok := p[key]; !ok {
		return def, nil
	}
	return tplInt(p, key)
}

func tplBoolOr(p map[string]any, key string, def bool) (bool, error) {
	switch v := p[key].(type) {
	case nil:
		return def, nil
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("%s = %s: want true or false", key, tplShow(p[key]))
}

func tplString(p map[string]any, key string) (string, error) {
	v, ok := p[key]
	if !ok {
		return "", fmt.Errorf("no %s", key)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s = %s: want a string", key, tplShow(v))
	}
	return s, nil
}

func tplStringOr(p map[string]any, key, def string) (string, error) {
	if _, ok := p[key]; !ok {
		return def, nil
	}
	return tplString(p, key)
}

// tplShow renders a template value for an error message.
func tplShow(v any) string {
	if v == nil {
		return "absent"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
