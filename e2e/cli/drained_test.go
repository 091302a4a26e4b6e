package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/traffic"
	"github.com/twinstream/twinstream/e2e/drill"
	"github.com/twinstream/twinstream/lambdas/albhttp"
	"github.com/twinstream/twinstream/lambdas/health/health"
)

// TestDrainedPathIsNotFound: `twinstream drain` points a region's Route 53
// health check at traffic.DrainedPath so that the DNS failover path leaves
// the region as the accelerator does. That holds only while no listener
// rule of the regional stacks serves that path (the listener's default
// action answers 404) and the template's own check path still reaches the
// health function, healthy (restore puts it back). Checked on the golden
// templates of the two- and three-region apps, through the ALB stand-in
// that routes by the templates' listener rules, with the health function's
// real handler (its rule takes /health/*: the handler answers the 404).
func TestDrainedPathIsNotFound(t *testing.T) {
	for _, dir := range []string{"../../testdata", "../../testdata/three-region"} {
		app, err := drill.ReadApp(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := app.Route53.Path; got != pipeline.DefaultHealthPath {
			t.Errorf("%s: Route 53 checks %s, want %s (the path restore puts back)", dir, got, pipeline.DefaultHealthPath)
		}
		for _, reg := range app.Regions {
			t.Run(reg.StackName, func(t *testing.T) {
				fns := map[string]drill.Invoker{}
				for name := range reg.Functions {
					fns[name] = drill.InvokerFunc(func(context.Context, []byte) ([]byte, error) {
						return []byte(`{"statusCode":200,"headers":{"X-Function":"` + name + `"},"body":"{}"}`), nil
					})
				}
				h, err := health.New(health.Config{
					Region:     reg.Region,
					StreamName: "stream",
					Client: health.PutRecordFunc(func(context.Context, *kinesis.PutRecordInput, ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
						return &kinesis.PutRecordOutput{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String("1")}, nil
					}),
				})
				if err != nil {
					t.Fatal(err)
				}
				serve := albhttp.Handler(h)
				fns["health"] = drill.InvokerFunc(func(ctx context.Context, event []byte) ([]byte, error) {
					var ev events.ALBTargetGroupRequest
					if err := json.Unmarshal(event, &ev); err != nil {
						return nil, err
					}
					resp, err := serve(ctx, ev)
					if err != nil {
						return nil, err
					}
					if resp.Headers == nil {
						resp.Headers = map[string]string{}
					}
					resp.Headers["X-Function"] = "health"
					return json.Marshal(resp)
				})
				front := httptest.NewServer(drill.NewFront(reg.Region, reg.Routes, fns))
				defer front.Close()
				for _, tt := range []struct {
					path, method string
					status       int
					function     string
				}{
					{traffic.DrainedPath, http.MethodGet, http.StatusNotFound, "health"},
					{traffic.DrainedPath, http.MethodHead, http.StatusNotFound, "health"},
					{pipeline.DefaultHealthPath, http.MethodGet, http.StatusOK, "health"},
				} {
					req, err := http.NewRequest(tt.method, front.URL+tt.path, nil)
					if err != nil {
						t.Fatal(err)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != tt.status || resp.Header.Get("X-Function") != tt.function {
						t.Errorf("%s %s: got %d from %q, want %d from %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("X-Function"), tt.status, tt.function)
					}
				}
			})
		}
	}
}
