package stacks

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"

	"github.com/twinstream/twinstream/lambdas/metrics"
)

// dashMetric is one metric line of a dashboard widget.
type dashMetric struct {
	widget   string
	ns, name string
	dims     map[string]string
	opts     map[string]any // label, stat, region, expression, ...
}

// placeholder turns a CloudFormation intrinsic inside a dashboard into a
// string the tests can compare: "@ref:Id", "@att:Id.Attribute", or
// "@sel<n>(<placeholder>)" for the n-th "/"-separated part of one (the
// accelerator's id in its ARN, the ALB's name in its listener's).
func placeholder(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	switch {
	case m["Ref"] != nil:
		return fmt.Sprintf("@ref:%v", m["Ref"]), true
	case m["Fn::GetAtt"] != nil:
		a, _ := m["Fn::GetAtt"].([]any)
		if len(a) == 2 {
			return fmt.Sprintf("@att:%v.%v", a[0], a[1]), true
		}
	case m["Fn::Select"] != nil:
		sel, _ := m["Fn::Select"].([]any)
		if len(sel) == 2 {
			split, _ := globalMap(sel[1])["Fn::Split"].([]any)
			if len(split) == 2 && split[0] == "/" {
				if inner, ok := placeholder(split[1]); ok {
					return fmt.Sprintf("@sel%v(%s)", sel[0], inner), true
				}
			}
		}
	}
	return "", false
}

// dashBody parses a DashboardBody ({"Fn::Join": ["", [...]]}) with its
// intrinsics as placeholders.
func dashBody(t *testing.T, body any) map[string]any {
	t.Helper()
	join, _ := globalMap(body)["Fn::Join"].([]any)
	if len(join) != 2 || join[0] != "" {
		t.Fatalf("DashboardBody: got %s, want an Fn::Join", js(body))
	}
	var b strings.Builder
	for _, part := range join[1].([]any) {
		switch p := part.(type) {
		case string:
			b.WriteString(p)
		default:
			s, ok := placeholder(p)
			if !ok {
				t.Fatalf("DashboardBody: unexpected intrinsic %s", js(p))
			}
			b.WriteString(s)
		}
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(b.String()), &out); err != nil {
		t.Fatalf("DashboardBody is not JSON once joined: %v\n%s", err, b.String())
	}
	return out
}

// widgetMetrics reads the metric lines of dashboard widgets (their JSON, with
// intrinsics as placeholders).
func widgetMetrics(t *testing.T, widgets []any) []dashMetric {
	t.Helper()
	var out []dashMetric
	for _, w := range widgets {
		p := globalMap(globalMap(w)["properties"])
		title, _ := p["title"].(string)
		for _, line := range globalList(p["metrics"]) {
			parts := globalList(line)
			m := dashMetric{widget: title, dims: map[string]string{}, opts: map[string]any{}}
			if len(parts) > 0 {
				if o, ok := parts[len(parts)-1].(map[string]any); ok {
					m.opts = o
					parts = parts[:len(parts)-1]
				}
			}
			strs := make([]string, len(parts))
			for i, x := range parts {
				s, ok := x.(string)
				if !ok {
					if s, ok = placeholder(x); !ok {
						t.Fatalf("widget %q: metric part %s", title, js(x))
					}
				}
				strs[i] = s
			}
			if len(strs) == 1 || len(strs)%2 != 0 {
				t.Fatalf("widget %q: metric line %s: want namespace, name and dimension pairs", title, js(line))
			}
			if len(strs) >= 2 {
				m.ns, m.name = strs[0], strs[1]
				for i := 2; i+1 < len(strs); i += 2 {
					m.dims[strs[i]] = strs[i+1]
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// checkHandlerMetrics checks the metrics of namespace ns: each is in the
// catalogue, with its dimension (a status class) or none, and emitted by a
// handler this pipeline runs (the processor's only with the default one).
// It returns the names seen.
func checkHandlerMetrics(t *testing.T, ms []dashMetric, ns string, defaultProcessor bool) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range ms {
		if m.ns != ns {
			continue
		}
		c, ok := metrics.Named(m.name)
		if !ok {
			t.Errorf("widget %q: %s is not a metric the handlers write", m.widget, m.name)
			continue
		}
		if c.Handler == metrics.Processor && !defaultProcessor {
			t.Errorf("widget %q: %s is written only by the default processor", m.widget, m.name)
		}
		var keys []string
		for k, v := range m.dims {
			keys = append(keys, k)
			if k == metrics.StatusClass && v != metrics.Status2xx && v != metrics.Status4xx && v != metrics.Status5xx {
				t.Errorf("widget %q: %s by %s=%q, want a status class ingest writes", m.widget, m.name, k, v)
			}
		}
		if want := []string{c.Dimension}; (c.Dimension == "" && len(keys) != 0) || (c.Dimension != "" && !slices.Equal(keys, want)) {
			t.Errorf("widget %q: %s with dimensions %v, want %q only (what the handler writes)", m.widget, m.name, keys, c.Dimension)
		}
		seen[m.name] = true
	}
	return seen
}

// TestPipelineWidgets: every widget metric exists: a handler's metric in
// the namespace the functions are given, or an AWS metric of the pipeline's
// own function and queues; what the issue asks to see is there.
func TestPipelineWidgets(t *testing.T) {
	f := pipelineStacks(t)
	for _, tt := range []struct {
		name string
		s    *pipelineStack
		def  bool
	}{{"default processor", f.def, true}, {"team processor", f.prov, false}} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			if s.p.defaultProcessor != tt.def {
				t.Fatalf("defaultProcessor: got %v, want %v", s.p.defaultProcessor, tt.def)
			}
			ids := s.ofType("AWS::CloudWatch::Dashboard")
			if len(ids) != 1 {
				t.Fatalf("got dashboards %v, want the team's one", ids)
			}
			body := dashBody(t, pipelineDig(s.res[ids[0]], "Properties", "DashboardBody"))
			ms := widgetMetrics(t, globalList(body["widgets"]))
			seen := checkHandlerMetrics(t, ms, *s.p.MetricNamespace(), tt.def)
			queues := map[string]bool{}
			for _, q := range []constructs.IConstruct{s.p.ReplayQueue, s.p.ReplayDeadLetterQueue, s.p.ProcessorFailureQueue} {
				queues["@att:"+s.logicalID(q)+".QueueName"] = true
			}
			for _, m := range ms {
				switch m.ns {
				case *s.p.MetricNamespace():
				case "AWS/Lambda":
					fn := map[string]string{"@ref:" + s.logicalID(s.p.ProcessorFunction): "processor", "@ref:" + s.logicalID(s.p.ReplayFunction): "replay"}[m.dims["FunctionName"]]
					if fn == "" || len(m.dims) != 1 {
						t.Errorf("widget %q: %s of %v, want the processor or the replay function", m.widget, m.name, m.dims)
					}
					seen["Lambda/"+m.name+"/"+fn] = true
				case "AWS/SQS":
					if !queues[m.dims["QueueName"]] || len(m.dims) != 1 {
						t.Errorf("widget %q: %s of %v, want one of the pipeline's queues", m.widget, m.name, m.dims)
					}
					seen["SQS/"+m.name+"/"+m.dims["QueueName"]] = true
				default:
					t.Errorf("widget %q: metric %s/%s, want the pipeline's namespace, AWS/Lambda or AWS/SQS", m.widget, m.ns, m.name)
				}
			}
			replayQueue := "@att:" + s.logicalID(s.p.ReplayQueue) + ".QueueName"
			want := []string{
				"AcceptedRecords", "SpilledRecords", "RejectedRecords", "Requests", // accepted, spilled, rejected by class
				"KinesisPutLatency", "KinesisThrottledRecords", "KinesisFaults", "BreakerOpen", // Kinesis put latency and throttles
				"Lambda/IteratorAge/processor", "Lambda/Errors/processor", // iterator age, processor errors
				"SQS/ApproximateNumberOfMessagesVisible/" + replayQueue, "SQS/ApproximateAgeOfOldestMessage/" + replayQueue, "SpillAge", // replay backlog
				"ReplayedRecords", "ReplayFailures", "Lambda/Errors/replay",
				"RegionHealthy", "KinesisProbeLatency", // health verdict and probes
			}
			if tt.def {
				want = append(want, "WrittenRecords", "FailedRecords", "S3PutFailures", "S3PutLatency")
			} else {
				want = append(want, "Lambda/Invocations/processor", "Lambda/Duration/processor")
			}
			for _, w := range want {
				if !seen[w] {
					t.Errorf("got no widget showing %s", w)
				}
			}
		})
	}
}

// TestRegionalDashboard: each region has a dashboard named after its stack,
// with every alarm of the stack and every widget metric one that exists.
func TestRegionalDashboard(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		rs := v.stacks[region]
		_, d := tpl.only(t, "AWS::CloudWatch::Dashboard")
		if d["DashboardName"] != *rs.StackName() {
			t.Errorf("DashboardName: got %v, want the stack name %s", d["DashboardName"], *rs.StackName())
		}
		body := dashBody(t, d["DashboardBody"])
		widgets := globalList(body["widgets"])
		var alarms []string
		for _, w := range widgets {
			if globalMap(w)["type"] == "alarm" {
				for _, a := range globalList(globalMap(globalMap(w)["properties"])["alarms"]) {
					alarms = append(alarms, a.(string))
				}
			}
		}
		var want []string
		for id := range tpl.resources("AWS::CloudWatch::Alarm") {
			want = append(want, "@att:"+id+".Arn")
		}
		sort.Strings(alarms)
		sort.Strings(want)
		if !slices.Equal(alarms, want) || len(want) != 8 {
			t.Errorf("alarm widget: got %v, want every alarm of the stack (8) %v", alarms, want)
		}
		ms := widgetMetrics(t, widgets)
		seen := checkHandlerMetrics(t, ms, *rs.Pipeline.MetricNamespace(), true)
		// CDK names the ALB by the parts of its listener's ARN.
		var listener string
		for id := range tpl.resources("AWS::ElasticLoadBalancingV2::Listener") {
			if !strings.Contains(id, "Http") || v.cfg.Domain == nil || strings.Contains(id, "Https") {
				listener = id
			}
		}
		lb := map[string]bool{
			fmt.Sprintf("@sel1(@ref:%[1]s)/@sel2(@ref:%[1]s)/@sel3(@ref:%[1]s)", listener): true,
			"@att:" + regionalLogicalID(rs, rs.LoadBalancer) + ".LoadBalancerFullName":     true,
		}
		tg := "@att:" + regionalLogicalID(rs, rs.HealthTargetGroup) + ".TargetGroupFullName"
		for _, m := range ms {
			switch m.ns {
			case "AWS/ApplicationELB":
				if !lb[m.dims["LoadBalancer"]] || (m.dims["TargetGroup"] != "" && m.dims["TargetGroup"] != tg) {
					t.Errorf("widget %q: %s of %v, want this region's ALB and health target group", m.widget, m.name, m.dims)
				}
				seen["ELB/"+m.name] = true
			case *rs.Pipeline.MetricNamespace(), "AWS/Lambda", "AWS/SQS":
			default:
				t.Errorf("widget %q: metric %s/%s in an unexpected namespace", m.widget, m.ns, m.name)
			}
		}
		for _, w := range []string{"AcceptedRecords", "SpilledRecords", "KinesisPutLatency", "KinesisThrottledRecords", "RegionHealthy",
			"SpillAge", "S3PutLatency", "ELB/UnHealthyHostCount", "ELB/HealthyHostCount"} {
			if !seen[w] {
				t.Errorf("got no widget showing %s", w)
			}
		}
	})
}

// regionalLogicalID is c's logical id in its regional stack.
func regionalLogicalID(rs *RegionalStack, c constructs.IConstruct) string {
	return regionalLogicalIDIn(rs.Stack, c)
}

// TestGlobalDashboard: the global dashboard shows, per region, the
// accelerator's traffic (SEARCH by the accelerator's id), the Route 53 health
// check's metrics read in us-east-1, and the region's own pipeline metrics
// read in that region, in its regional stack's namespace.
func TestGlobalDashboard(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			var d map[string]any
			for _, r := range fx.resources("AWS::CloudWatch::Dashboard") {
				if d != nil {
					t.Fatal("got two dashboards in the global stack, want one")
				}
				d = globalProps(r)
			}
			if d["DashboardName"] != fx.globalName() {
				t.Errorf("DashboardName: got %v, want %s", d["DashboardName"], fx.globalName())
			}
			body := dashBody(t, d["DashboardBody"])
			widgets := globalList(body["widgets"])
			text := js(globalMap(globalMap(widgets[0])["properties"])["markdown"])
			for _, w := range []string{"Traffic dial", "not a metric", "twinstream status", "us-east-1", "only while traffic flows"} {
				if !strings.Contains(text, w) {
					t.Errorf("text widget: got %s, want it to say %q", text, w)
				}
			}
			var accID string
			for id := range fx.resources("AWS::GlobalAccelerator::Accelerator") {
				accID = id
			}
			ms := widgetMetrics(t, widgets)
			searches := map[string]bool{}
			for _, m := range ms {
				if e, _ := m.opts["expression"].(string); e != "" {
					for _, name := range []string{"NewFlowCount", "ProcessedBytesIn"} {
						if strings.HasPrefix(e, "SEARCH('{AWS/GlobalAccelerator,Accelerator,EndpointGroup,Listener} MetricName=\""+name+"\" \"@sel1(@att:"+accID+".AcceleratorArn)\"'") {
							searches[name] = true
						}
					}
				}
			}
			if len(searches) != 2 {
				t.Errorf("Global Accelerator searches: got %v, want NewFlowCount and ProcessedBytesIn of accelerator %s", searches, accID)
			}
			checks := map[string]string{} // health check id -> region
			for id, r := range fx.resources("AWS::Route53::HealthCheck") {
				checks["@att:"+id+".HealthCheckId"] = globalStr(jsString(globalMap(globalMap(globalProps(r)["HealthCheckTags"].([]any)[0]))["Value"]))
			}
			got := map[string]bool{}
			for _, m := range ms {
				switch {
				case m.ns == "AWS/Route53":
					name := checks[m.dims["HealthCheckId"]]
					if name == "" || m.opts["region"] != Route53MetricsRegion || !strings.HasPrefix(name, fx.cfg.Name+"-"+fmt.Sprint(m.opts["label"])+"-") {
						t.Errorf("widget %q: %s %v %v, want a health check of this stack read in %s, labelled with its region", m.widget, m.name, m.dims, m.opts, Route53MetricsRegion)
					}
					got[m.name+"/"+fmt.Sprint(m.opts["label"])] = true
				case strings.HasPrefix(m.ns, "Twinstream/"):
					region := fmt.Sprint(m.opts["label"])
					i := slices.Index(fx.cfg.Regions, region)
					if i < 0 {
						t.Errorf("widget %q: %s labelled %q, want a region", m.widget, m.name, region)
						continue
					}
					rs := fx.regions[i]
					checkHandlerMetrics(t, []dashMetric{m}, *rs.Pipeline.MetricNamespace(), true)
					r, _ := m.opts["region"].(string)
					if m.ns != *rs.Pipeline.MetricNamespace() || (r != region && (r != "" || region != GlobalRegion)) {
						t.Errorf("widget %q: %s in %s read in %q, want %s read in %s", m.widget, m.name, m.ns, r, *rs.Pipeline.MetricNamespace(), region)
					}
					got[m.name+"/"+region] = true
				case m.opts["expression"] != nil:
				default:
					t.Errorf("widget %q: metric %s/%s in an unexpected namespace", m.widget, m.ns, m.name)
				}
			}
			for _, region := range fx.cfg.Regions {
				for _, name := range []string{"HealthCheckStatus", "HealthCheckPercentageHealthy", "AcceptedRecords", "SpilledRecords", "RegionHealthy"} {
					if !got[name+"/"+region] {
						t.Errorf("got no %s of %s", name, region)
					}
				}
			}
		})
	}
}

func jsString(v any) *string {
	s, _ := v.(string)
	return &s
}

// TestRegionalAlarmsMissingData: every alarm treats missing data as chosen
// (none is left to CloudWatch's default, which goes quietly
// INSUFFICIENT_DATA), says so in its description, and watches what it
// should.
func TestRegionalAlarmsMissingData(t *testing.T) {
	type want struct {
		metric, ns string // "" metric: a math expression
		stat       string
		threshold  float64
		op         string
		periods    float64
		points     any // nil: all of the periods
		period     float64
		missing    string
	}
	gt, lt := "GreaterThanThreshold", "LessThanThreshold"
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		rs := v.stacks[region]
		ns := *rs.Pipeline.MetricNamespace()
		backlog := float64((6*rs.Pipeline.ReplayTimeout + time.Minute - 1).Truncate(time.Minute).Seconds() + 60)
		table := map[string]want{
			"IteratorAgeAlarm":      {"IteratorAge", "AWS/Lambda", "Maximum", 300000, gt, 3, nil, 60, "breaching"},
			"SpilledAlarm":          {"SpilledRecords", ns, "Sum", 0, gt, 1, nil, 60, "notBreaching"},
			"ReplayDeadLetterAlarm": {"ApproximateNumberOfMessagesVisible", "AWS/SQS", "Maximum", 0, gt, 1, nil, 60, "ignore"},
			"ProcessorFailureAlarm": {"ApproximateNumberOfMessagesVisible", "AWS/SQS", "Maximum", 0, gt, 1, nil, 60, "ignore"},
			"RegionUnhealthyAlarm":  {"UnHealthyHostCount", "AWS/ApplicationELB", "Maximum", 0, gt, 1, nil, 60, "ignore"},
			"HealthVerdictAlarm":    {"RegionHealthy", ns, "Minimum", 1, lt, 3, 2.0, 60, "breaching"},
			"ReplayBacklogAgeAlarm": {"SpillAge", ns, "Maximum", 3600, gt, 1, nil, backlog, "notBreaching"},
			"ProcessorErrorsAlarm":  {"", "", "", 0, gt, 3, nil, 0, "notBreaching"},
		}
		if backlog != 1320 {
			t.Errorf("replay backlog period: got %v s, want 1320 (the queue's 1260 s visibility timeout, rounded up, plus a minute)", backlog)
		}
		topic := ref(regionalLogicalID(rs, rs.AlarmTopic))
		alarms := tpl.props("AWS::CloudWatch::Alarm")
		if len(alarms) != len(table) || len(rs.Alarms) != len(table) {
			t.Errorf("got %d alarms (%d in Alarms), want %d", len(alarms), len(rs.Alarms), len(table))
		}
		for id, w := range table {
			a, ok := alarms[regionalLogicalID(rs, rs.Alarms[id])]
			if !ok {
				t.Errorf("%s: not in the template", id)
				continue
			}
			got := want{metric: fmt.Sprint(a["MetricName"]), ns: fmt.Sprint(a["Namespace"]), stat: fmt.Sprint(a["Statistic"]),
				threshold: a["Threshold"].(float64), op: fmt.Sprint(a["ComparisonOperator"]), periods: a["EvaluationPeriods"].(float64),
				points: a["DatapointsToAlarm"], missing: fmt.Sprint(a["TreatMissingData"])}
			if p, ok := a["Period"].(float64); ok {
				got.period = p
			}
			if w.metric == "" {
				got.metric, got.ns, got.stat = "", "", ""
			}
			if got != w {
				t.Errorf("%s: got %+v, want %+v", id, got, w)
			}
			desc := fmt.Sprint(a["AlarmDescription"])
			phrase := map[string]string{"breaching": "Missing data is breaching", "notBreaching": "Missing data is not breaching", "ignore": "Missing data is ignored"}[w.missing]
			if !strings.Contains(desc, phrase) || len(desc) > 1024 {
				t.Errorf("%s: description %q, want at most 1024 characters saying %q", id, desc, phrase)
			}
			if js(a["AlarmActions"]) != js([]any{topic}) || js(a["OKActions"]) != js([]any{topic}) || a["InsufficientDataActions"] != nil {
				t.Errorf("%s: actions %s / %s / %s, want the alarm topic for ALARM and OK only", id, js(a["AlarmActions"]), js(a["OKActions"]), js(a["InsufficientDataActions"]))
			}
		}
		// The errors alarm adds the processor's function errors and the
		// default processor's failed sink puts.
		math := alarms[regionalLogicalID(rs, rs.Alarms["ProcessorErrorsAlarm"])]
		m := globalList(math["Metrics"])
		wantMath := []any{
			map[string]any{"Expression": "FILL(errors, 0) + FILL(putFailures, 0)", "Id": "expr_1", "Label": "processor errors and failed sink puts", "ReturnData": true},
			map[string]any{"Id": "errors", "MetricStat": map[string]any{"Metric": map[string]any{"Dimensions": []any{map[string]any{"Name": "FunctionName",
				"Value": ref(regionalLogicalID(rs, rs.Pipeline.ProcessorFunction))}}, "MetricName": "Errors", "Namespace": "AWS/Lambda"}, "Period": 60.0, "Stat": "Sum"}, "ReturnData": false},
			map[string]any{"Id": "putFailures", "MetricStat": map[string]any{"Metric": map[string]any{"MetricName": "S3PutFailures", "Namespace": ns}, "Period": 60.0, "Stat": "Sum"}, "ReturnData": false},
		}
		if js(m) != js(wantMath) {
			t.Errorf("ProcessorErrorsAlarm metrics: got %s, want %s", js(m), js(wantMath))
		}
	})
}

// TestRegionalOperatorOutputs: the outputs the operator CLI discovers a
// region by, each with a description.
func TestRegionalOperatorOutputs(t *testing.T) {
	eachRegional(t, func(t *testing.T, v *regionalVariant, region string, tpl cfnTemplate) {
		rs := v.stacks[region]
		p := rs.Pipeline
		id := func(c constructs.IConstruct) string { return regionalLogicalID(rs, c) }
		want := map[string]any{
			OutputStreamName:               ref(id(p.Stream)),
			OutputSinkBucketName:           ref(id(p.SinkBucket)),
			OutputSpillBucketName:          ref(id(p.SpillBucket)),
			OutputSpillPrefix:              "spill/",
			OutputReplayQueueURL:           ref(id(p.ReplayQueue)),
			OutputReplayDeadLetterQueueURL: ref(id(p.ReplayDeadLetterQueue)),
			OutputProcessorFailureQueueURL: ref(id(p.ProcessorFailureQueue)),
			OutputAPIKeysSecretName:        v.cfg.Name + "/api-keys",
			OutputAPIKeysPrimaryRegion:     v.cfg.Regions[0],
			OutputAlarmTopicArn:            ref(id(rs.AlarmTopic)),
			OutputDashboardName:            ref(id(rs.Dashboard)),
			OutputMetricsNamespace:         "Twinstream/" + v.cfg.Name + "/" + *rs.StackName(),
		}
		outs := globalMap(tpl["Outputs"])
		for k, w := range want {
			if got := globalMap(outs[k])["Value"]; js(got) != js(w) {
				t.Errorf("output %s: got %s, want %s", k, js(got), js(w))
			}
		}
		for k, o := range outs {
			if globalMap(o)["Description"] == nil || globalMap(o)["Export"] != nil {
				t.Errorf("output %s: got %s, want a description and no export", k, js(o))
			}
		}
		if len(outs) != len(want)+2 { // and LoadBalancerDnsName, EndpointUrl
			t.Errorf("got outputs %v, want %d", slices.Sorted(maps.Keys(outs)), len(want)+2)
		}
	})
}

// TestGlobalOperatorOutputs: per region, the endpoint group (its traffic
// dial is the manual switch) and the Route 53 health check, named by
// RegionOutputSuffix; the regions, the accelerator and the dashboard.
func TestGlobalOperatorOutputs(t *testing.T) {
	for _, fx := range globalSynth(t) {
		t.Run(fx.name, func(t *testing.T) {
			outs := globalMap(fx.globalTemplate()["Outputs"])
			groups := map[string]string{} // region -> logical id
			for id, r := range fx.resources("AWS::GlobalAccelerator::EndpointGroup") {
				groups[fmt.Sprint(globalProps(r)["EndpointGroupRegion"])] = id
			}
			var accID string
			for id := range fx.resources("AWS::GlobalAccelerator::Accelerator") {
				accID = id
			}
			want := map[string]any{
				OutputRegions:        strings.Join(fx.cfg.Regions, ","),
				OutputAcceleratorArn: map[string]any{"Fn::GetAtt": []any{accID, "AcceleratorArn"}},
				OutputDashboardName:  map[string]any{"Ref": regionalLogicalIDIn(fx.global.Stack, fx.global.Dashboard)},
			}
			for _, region := range fx.cfg.Regions {
				suffix := RegionOutputSuffix(region)
				want[OutputEndpointGroupArnPrefix+suffix] = map[string]any{"Fn::GetAtt": []any{groups[region], "EndpointGroupArn"}}
				want[OutputHealthCheckIDPrefix+suffix] = map[string]any{"Fn::GetAtt": []any{"HealthCheck" + suffix, "HealthCheckId"}}
			}
			for k, w := range want {
				if got := globalMap(outs[k])["Value"]; js(got) != js(w) {
					t.Errorf("output %s: got %s, want %s", k, js(got), js(w))
				}
			}
			for k, o := range outs {
				if globalMap(o)["Description"] == nil {
					t.Errorf("output %s: no description", k)
				}
			}
			if got := RegionOutputSuffix("us-east-1") + RegionOutputSuffix("eu-central-2"); got != "UsEast1EuCentral2" {
				t.Errorf("RegionOutputSuffix: got %s, want UsEast1EuCentral2", got)
			}
		})
	}
}

// regionalLogicalIDIn is c's logical id in stack.
func regionalLogicalIDIn(stack awscdk.Stack, c constructs.IConstruct) string {
	if d := c.Node().DefaultChild(); d != nil {
		c = d
	}
	id, _ := stack.Resolve(stack.GetLogicalId(c.(awscdk.CfnElement))).(string)
	return id
}
