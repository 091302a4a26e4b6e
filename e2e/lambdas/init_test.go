package lambdas_test

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

// initReport is the line aws-lambda-rie logs when a runtime's
// initialization ends (its first call for the next event): the time from
// starting the bootstrap until then, as Lambda's "Init Duration". (The
// "Init Duration" of RIE's REPORT line is not that: RIE starts the
// initialization without waiting for it.)
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// BenchmarkInit starts each handler's bootstrap under aws-lambda-rie, as
// Lambda starts a new execution environment, with the environment the
// stack gives it (endpoints of services that do not answer: nothing may
// be called before the first event), invokes it once with an event that
// needs no AWS call, and reports the initialization time RIE measured
// (init-ms: the median over the iterations; max-init-ms the longest, which
// a busy machine stretches). Target: <= 50 ms each. Run with -benchtime
// 10x: each iteration is a process start.
func BenchmarkInit(b *testing.B) {
	// A closed port: a call made during init would fail (or wait) here.
	const nowhere = "http://127.0.0.1:9"
	base := append(standin.Env(region),
		"AWS_ENDPOINT_URL_KINESIS="+nowhere, "AWS_ENDPOINT_URL_S3="+nowhere, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+nowhere,
		"S3_USE_PATH_STYLE=true", "METRICS_NAMESPACE=Twinstream/bench/bench-us-east-1",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024")
	albGet := func(path string) string {
		return `{"requestContext":{"elb":{"targetGroupArn":"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},` +
			`"httpMethod":"GET","path":"` + path + `","headers":{"host":"ingest.example.com","x-forwarded-for":"203.0.113.7"},"body":"","isBase64Encoded":false}`
	}
	for _, h := range []struct {
		name, event string
		env         []string
	}{
		{"ingest", albGet("/health"), []string{"STREAM_NAME=" + streamName, "SPILL_BUCKET=" + spillBucket,
			"API_KEYS_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys"}},
		{"health", albGet("/health"), []string{"STREAM_NAME=" + streamName,
			"API_KEYS_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:api-keys"}},
		{"processor", `{"Records":[]}`, []string{"SINK_BUCKET=" + sinkBucket}},
		{"replay", `{"Records":[]}`, []string{"STREAM_NAME=" + streamName, "SPILL_BUCKET=" + spillBucket}},
	} {
		b.Run(h.name, func(b *testing.B) {
			fn := standin.StartRIE(b, standin.BuildBootstrap(b, "./lambdas/"+h.name), append(append([]string(nil), base...), h.env...))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var inits []float64
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i > 0 {
					if err := fn.Recycle(ctx); err != nil {
						b.Fatal(err)
					}
				}
				_, before := lastInit(fn.Logs())
				if _, err := fn.Invoke(ctx, []byte(h.event)); err != nil {
					b.Fatalf("invoke: %v\nlogs:\n%s", err, fn.Logs())
				}
				// RIE's log reaches the buffer through a pipe, maybe after
				// the answer.
				ms, after := lastInit(fn.Logs())
				for wait := time.Now().Add(5 * time.Second); after == before && time.Now().Before(wait); {
					time.Sleep(10 * time.Millisecond)
					ms, after = lastInit(fn.Logs())
				}
				if after != before+1 {
					b.Fatalf("RIE logged %d INIT REPORT lines for one start, want 1:\n%s", after-before, fn.Logs())
				}
				inits = append(inits, ms)
			}
			slices.Sort(inits)
			b.ReportMetric(inits[len(inits)/2], "init-ms")
			b.ReportMetric(inits[len(inits)-1], "max-init-ms")
		})
	}
}

// lastInit returns the duration of the last INIT REPORT in RIE's log and
// how many the log holds.
func lastInit(logs string) (float64, int) {
	all := initReport.FindAllStringSubmatch(logs, -1)
	if len(all) == 0 {
		return 0, 0
	}
	ms, _ := strconv.ParseFloat(strings.TrimSpace(all[len(all)-1][1]), 64)
	return ms, len(all)
}
