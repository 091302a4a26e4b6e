package stacks

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	elbv2 "github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/twinstream/twinstream/lambdas/metrics"
)

// Alarm thresholds the dashboards draw as annotations.
const (
	// IteratorAgeThreshold: the processor this far behind the stream for 3
	// minutes raises IteratorAgeAlarm.
	IteratorAgeThreshold = 5 * time.Minute
	// SpillAgeThreshold: a spill object this old when replay tries it (it
	// has waited that long to get back into the stream) raises
	// ReplayBacklogAgeAlarm.
	SpillAgeThreshold = time.Hour
)

// Route53MetricsRegion is where Route 53 publishes its health checks'
// CloudWatch metrics, whatever region the checks serve.
const Route53MetricsRegion = "us-east-1"

// Dashboard geometry: CloudWatch dashboards are 24 units wide.
const (
	dashWidth  = 24
	dashHeight = 6
)

func dashMinute() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(1)) }

// dashGraph is a time-series widget of width w over 1-minute periods.
func dashGraph(title string, w float64, left []awscloudwatch.IMetric, edit func(*awscloudwatch.GraphWidgetProps)) awscloudwatch.IWidget {
	props := &awscloudwatch.GraphWidgetProps{
		Title:  jsii.String(title),
		Width:  jsii.Number(w),
		Height: jsii.Number(dashHeight),
		Left:   &left,
		Period: dashMinute(),
	}
	if edit != nil {
		edit(props)
	}
	return awscloudwatch.NewGraphWidget(props)
}

// dashLine is a horizontal annotation (an alarm threshold).
func dashLine(value float64, label string) *[]*awscloudwatch.HorizontalAnnotation {
	return &[]*awscloudwatch.HorizontalAnnotation{{Value: jsii.Number(value), Label: jsii.String(label)}}
}

// Widgets are the pipeline's dashboard widgets in rows: ingest, processor,
// the spill backlog and replay, region health. Add each row with
// Dashboard.AddWidgets(row...) (RegionalStack's dashboard holds them under
// its alarms). Every metric is this pipeline's own: its handlers' metrics
// in MetricNamespace (see Metric), its functions' and queues' AWS metrics.
// The processor's own metrics (records written, quarantined, ...; sink put
// time) appear only with the default processor; a team's processor gets
// its Lambda invocations and duration instead.
//
// The handlers' metrics come from their log lines: while CloudWatch is
// impaired (it degraded with Kinesis in 2020) they arrive late or not at
// all, and a gap in a graph is not a fact about the pipeline.
func (p *Pipeline) Widgets() [][]awscloudwatch.IWidget {
	m := func(metric metrics.Metric, stat, label string) awscloudwatch.IMetric {
		return p.Metric(metric, &awscloudwatch.MetricOptions{Statistic: jsii.String(stat), Label: jsii.String(label), Period: dashMinute()})
	}
	byClass := func(metric metrics.Metric, class, label string) awscloudwatch.IMetric {
		return p.Metric(metric, &awscloudwatch.MetricOptions{Label: jsii.String(label), Period: dashMinute(),
			DimensionsMap: &map[string]*string{metrics.StatusClass: jsii.String(class)}})
	}
	opts := func(stat, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Statistic: jsii.String(stat), Label: jsii.String(label), Period: dashMinute()}
	}

	ingest := []awscloudwatch.IWidget{
		dashGraph("Ingest: records", 6, []awscloudwatch.IMetric{
			m(metrics.Accepted, "Sum", "accepted (202, or stored in a 503)"),
			m(metrics.Spilled, "Sum", "spilled to S3"),
			byClass(metrics.Rejected, metrics.Status4xx, "rejected 4xx"),
			byClass(metrics.Rejected, metrics.Status5xx, "not stored 5xx (producer retries)"),
		}, nil),
		dashGraph("Ingest: requests by answer", 6, []awscloudwatch.IMetric{
			byClass(metrics.Requests, metrics.Status2xx, "2xx"),
			byClass(metrics.Requests, metrics.Status4xx, "4xx"),
			byClass(metrics.Requests, metrics.Status5xx, "5xx"),
		}, nil),
		dashGraph("Ingest: Kinesis put time per request (ms)", 6, []awscloudwatch.IMetric{
			m(metrics.KinesisPutLatency, "p50", "p50"),
			m(metrics.KinesisPutLatency, "p99", "p99"),
			m(metrics.KinesisPutLatency, "Maximum", "max"),
		}, nil),
		dashGraph("Ingest: Kinesis throttles, faults, breaker", 6, []awscloudwatch.IMetric{
			m(metrics.KinesisThrottled, "Sum", "records throttled"),
			m(metrics.KinesisFaults, "Sum", "faults"),
			m(metrics.BreakerOpen, "Sum", "requests spilled, breaker open"),
		}, nil),
	}

	errs := []awscloudwatch.IMetric{
		p.MetricProcessorErrors(opts("Sum", "function errors (crash, timeout)")),
		p.ProcessorFailureQueue.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "batches given up (failure queue)")),
	}
	if p.defaultProcessor {
		errs = append(errs, m(metrics.FailedRecords, "Sum", "records retried (BatchItemFailures)"), m(metrics.S3PutFailures, "Sum", "sink puts failed"))
	}
	processor := []awscloudwatch.IWidget{
		dashGraph("Processor: iterator age (ms)", 6, []awscloudwatch.IMetric{p.MetricIteratorAge(opts("Maximum", "iterator age"))},
			func(g *awscloudwatch.GraphWidgetProps) {
				g.LeftAnnotations = dashLine(float64(IteratorAgeThreshold.Milliseconds()), "alarm")
			}),
		dashGraph("Processor: errors", 6, errs, nil),
	}
	if p.defaultProcessor {
		processor = append(processor,
			dashGraph("Processor: records", 6, []awscloudwatch.IMetric{
				m(metrics.Written, "Sum", "written"),
				m(metrics.Quarantined, "Sum", "quarantined"),
				m(metrics.Duplicates, "Sum", "copies dropped"),
				m(metrics.Conflicts, "Sum", "id reused, payload differs"),
			}, nil),
			dashGraph("Processor: sink PutObject time (ms)", 6, []awscloudwatch.IMetric{
				m(metrics.S3PutLatency, "p50", "p50"),
				m(metrics.S3PutLatency, "p99", "p99"),
			}, nil))
	} else {
		processor = append(processor, dashGraph("Processor: invocations and duration (ms)", 12,
			[]awscloudwatch.IMetric{p.processor.MetricInvocations(opts("Sum", "invocations"))},
			func(g *awscloudwatch.GraphWidgetProps) {
				g.Right = &[]awscloudwatch.IMetric{p.processor.MetricDuration(opts("p99", "duration p99"))}
			}))
	}

	replay := []awscloudwatch.IWidget{
		// S3 notifies the replay queue once per spill object: its messages
		// are the spill objects not yet back in the stream. (The bucket's
		// own NumberOfObjects is a daily figure that counts replayed
		// versions too.)
		dashGraph("Spill backlog: objects waiting for replay", 8, []awscloudwatch.IMetric{
			p.ReplayQueue.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "waiting")),
			p.ReplayQueue.MetricApproximateNumberOfMessagesNotVisible(opts("Maximum", "being replayed or retried later")),
			p.ReplayDeadLetterQueue.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "dead-lettered (replay by hand)")),
		}, nil),
		// SpillAge is measured by replay on every try; SQS's oldest-message
		// age leaves out messages received 3 times or more, so it drops
		// during a long outage while the backlog still waits.
		dashGraph("Spill backlog: oldest spill object (s)", 8, []awscloudwatch.IMetric{
			m(metrics.SpillAge, "Maximum", "oldest object replay tried"),
			p.ReplayQueue.MetricApproximateAgeOfOldestMessage(opts("Maximum", "oldest queue message (SQS)")),
		}, func(g *awscloudwatch.GraphWidgetProps) {
			g.LeftAnnotations = dashLine(SpillAgeThreshold.Seconds(), "alarm")
		}),
		dashGraph("Replay", 8, []awscloudwatch.IMetric{
			m(metrics.ReplayedRecords, "Sum", "records replayed"),
			m(metrics.ReplayedObjects, "Sum", "objects done"),
			m(metrics.ReplayFailures, "Sum", "messages failed (retried)"),
			// A replay that crashes writes no line: its function errors say so.
			p.replay.MetricErrors(opts("Sum", "function errors (crash, timeout)")),
		}, nil),
	}

	health := []awscloudwatch.IWidget{
		dashGraph("Region health verdict (1 healthy, 0 unhealthy)", 8, []awscloudwatch.IMetric{
			m(metrics.RegionHealthy, "Minimum", "worst verdict of the minute"),
		}, func(g *awscloudwatch.GraphWidgetProps) {
			g.LeftYAxis = &awscloudwatch.YAxisProps{Min: jsii.Number(0), Max: jsii.Number(1)}
		}),
		dashGraph("Health probe time (ms)", 8, []awscloudwatch.IMetric{
			m(metrics.KinesisProbeLatency, "p99", "Kinesis canary p99"),
			m(metrics.KinesisProbeLatency, "Maximum", "Kinesis canary max"),
			m(metrics.SecretsProbeLatency, "p99", "API-key secret p99"),
		}, nil),
		dashGraph("Health probe failures", 8, []awscloudwatch.IMetric{
			m(metrics.KinesisProbeFailures, "Sum", "Kinesis canary"),
			m(metrics.SecretsProbeFailures, "Sum", "API-key secret"),
		}, nil),
	}
	return [][]awscloudwatch.IWidget{ingest, processor, replay, health}
}

// dashboard is the region's dashboard ("<stack name>"): its alarms, the
// pipeline's widgets, and the ALB's view of the region.
func (s *RegionalStack) dashboard(cfg *Config, region string, alarms []awscloudwatch.IAlarm) awscloudwatch.Dashboard {
	p := s.Pipeline
	d := awscloudwatch.NewDashboard(s, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   s.StackName(),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	refs := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		refs[i] = a
	}
	text := fmt.Sprintf("## %s in %s\n"+
		"Producers → ALB → ingest → Kinesis → processor → sink bucket; when Kinesis fails, ingest spills to S3 and replay writes the spill back. "+
		"The handlers' metrics (namespace `%s`) come from their log lines: while CloudWatch is impaired they lag or go missing. "+
		"`twinstream status` asks the services themselves. Each alarm's description says what missing data means for it.",
		cfg.Name, region, *p.MetricNamespace())
	d.AddWidgets(
		awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{Markdown: jsii.String(text), Width: jsii.Number(8), Height: jsii.Number(dashHeight)}),
		awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title:  jsii.String("Alarms"),
			Alarms: &refs,
			Width:  jsii.Number(dashWidth - 8),
			Height: jsii.Number(dashHeight),
		}),
	)
	for _, row := range p.Widgets() {
		d.AddWidgets(row...)
	}
	opts := func(stat, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Statistic: jsii.String(stat), Label: jsii.String(label), Period: dashMinute()}
	}
	tg := s.HealthTargetGroup.Metrics()
	lb := s.LoadBalancer.Metrics()
	d.AddWidgets(
		dashGraph("Region health as Global Accelerator sees it (/health/deep target)", 12, []awscloudwatch.IMetric{
			tg.HealthyHostCount(opts("Minimum", "healthy")),
			tg.UnhealthyHostCount(opts("Maximum", "unhealthy")),
		}, nil),
		dashGraph("ALB: requests and errors", 12, []awscloudwatch.IMetric{
			lb.RequestCount(opts("Sum", "requests")),
			lb.HttpCodeElb(elbv2.HttpCodeElb_ELB_5XX_COUNT, opts("Sum", "ALB 5xx (no target answered)")),
			lb.HttpCodeElb(elbv2.HttpCodeElb_ELB_4XX_COUNT, opts("Sum", "ALB 4xx (WAF 429s included)")),
		}, nil),
	)
	return d
}

// dashboard is the global view ("<name>-global", in GlobalRegion):
// Global Accelerator's traffic per endpoint group, the Route 53 health
// checks (their metrics exist only in us-east-1: the widgets read them
// there), and each region's headline pipeline metrics, read in its region.
func (g *GlobalStack) dashboard(cfg *Config, regions []*RegionalStack) awscloudwatch.Dashboard {
	d := awscloudwatch.NewDashboard(g.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   g.StackName(),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	names := make([]string, len(regions))
	for i, rs := range regions {
		names[i] = globalStr(rs.Region())
	}
	text := fmt.Sprintf("## %s: all regions (%s)\n"+
		"**Traffic dial** of each endpoint group is not a metric: `twinstream status` shows it with each endpoint's health, "+
		"`twinstream drain REGION` / `restore REGION` set it (the template keeps 100). "+
		"**Global Accelerator** publishes flows and bytes in %s, only while traffic flows: no line is no traffic. "+
		"**Route 53** health check metrics exist only in us-east-1 and are read there (1 healthy, 0 unhealthy). "+
		"Each region's pipeline metrics are read in that region, from its handlers' log lines.",
		cfg.Name, strings.Join(names, ", "), GlobalRegion)
	d.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{Markdown: jsii.String(text), Width: jsii.Number(dashWidth), Height: jsii.Number(3)}))

	// One line per endpoint group: SEARCH finds the accelerator's series by
	// its id (the last part of its ARN), whatever the dimension values.
	id := awscdk.Fn_Select(jsii.Number(1), awscdk.Fn_Split(jsii.String("/"), g.Accelerator.AcceleratorArn(), nil))
	search := func(metric, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: awscdk.Fn_Join(jsii.String(""), &[]*string{
				jsii.String(`SEARCH('{AWS/GlobalAccelerator,Accelerator,EndpointGroup,Listener} MetricName="` + metric + `" "`),
				id,
				jsii.String(`"', 'Sum', 60)`),
			}),
			Label:  jsii.String(label),
			Period: dashMinute(),
		})
	}
	d.AddWidgets(
		dashGraph("Global Accelerator: new flows per endpoint group", 12, []awscloudwatch.IMetric{search("NewFlowCount", "flows")}, nil),
		dashGraph("Global Accelerator: bytes in per endpoint group", 12, []awscloudwatch.IMetric{search("ProcessedBytesIn", "bytes in")}, nil),
	)

	var status, pct []awscloudwatch.IMetric
	for _, rs := range regions {
		region := globalStr(rs.Region())
		r53 := func(metric, stat string) awscloudwatch.IMetric {
			return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String("AWS/Route53"),
				MetricName:    jsii.String(metric),
				DimensionsMap: &map[string]*string{"HealthCheckId": g.HealthChecks[region].AttrHealthCheckId()},
				Statistic:     jsii.String(stat),
				Region:        jsii.String(Route53MetricsRegion),
				Label:         jsii.String(region),
				Period:        dashMinute(),
			})
		}
		status = append(status, r53("HealthCheckStatus", "Minimum"))
		pct = append(pct, r53("HealthCheckPercentageHealthy", "Average"))
	}
	d.AddWidgets(
		dashGraph("Route 53 health check per region (1 healthy, 0 unhealthy)", 12, status, func(w *awscloudwatch.GraphWidgetProps) {
			w.LeftYAxis = &awscloudwatch.YAxisProps{Min: jsii.Number(0), Max: jsii.Number(1)}
		}),
		dashGraph("Route 53 checkers seeing each region healthy (%)", 12, pct, nil),
	)

	perRegion := func(metric metrics.Metric, stat string) []awscloudwatch.IMetric {
		var out []awscloudwatch.IMetric
		for _, rs := range regions {
			region := globalStr(rs.Region())
			out = append(out, rs.Pipeline.Metric(metric, &awscloudwatch.MetricOptions{
				Statistic: jsii.String(stat), Region: jsii.String(region), Label: jsii.String(region), Period: dashMinute(),
			}))
		}
		return out
	}
	d.AddWidgets(
		dashGraph("Accepted records per region", 8, perRegion(metrics.Accepted, "Sum"), nil),
		dashGraph("Spilled records per region", 8, perRegion(metrics.Spilled, "Sum"), nil),
		dashGraph("Region health verdict per region (1 healthy, 0 unhealthy)", 8, perRegion(metrics.RegionHealthy, "Minimum"), func(w *awscloudwatch.GraphWidgetProps) {
			w.LeftYAxis = &awscloudwatch.YAxisProps{Min: jsii.Number(0), Max: jsii.Number(1)}
		}),
	)
	return d
}
