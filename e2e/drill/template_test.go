package drill

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// tplGoldenDir holds the golden templates of the default configuration.
const tplGoldenDir = "../../testdata"

var tplGoldenFiles = map[string]string{
	"east":   "twinstream-us-east-1.template.json",
	"west":   "twinstream-us-west-2.template.json",
	"global": "twinstream-global.template.json",
}

// tplGoldenRegion is what the golden templates say about a region; only the
// stack name, the region and the API-key secret differ between the two.
func tplGoldenRegion(region string, secret Value) RegionSpec {
	stream := Value{Ref: "PipelineStreamDD609695", RefType: "AWS::Kinesis::Stream"}
	spill := Value{Ref: "PipelineSpillBucketF0F00290", RefType: "AWS::S3::Bucket"}
	// The handlers' metrics (EMF in their log lines) go to the stack's namespace.
	metrics := Value{Literal: "Twinstream/twinstream/twinstream-" + region}
	return RegionSpec{
		Region:    region,
		StackName: "twinstream-" + region,
		Functions: map[string]FunctionSpec{
			"ingest": {Name: "ingest", LogicalID: "PipelineIngestFunction9CB77B2E", Timeout: 15 * time.Second, MemoryMB: 1024, Env: map[string]Value{
				"STREAM_NAME":         stream,
				"SPILL_BUCKET":        spill,
				"SPILL_PREFIX":        {Literal: "spill"},
				"API_KEYS_SECRET_ARN": secret,
				"KINESIS_BUDGET":      {Literal: "3s"},
				"SPILL_TIMEOUT":       {Literal: "4s"},
				"METRICS_NAMESPACE":   metrics,
				"PACK_RECORDS":        {Literal: "true"},
			}},
			"health": {Name: "health", LogicalID: "PipelineHealthFunctionB9065716", Timeout: 5 * time.Second, MemoryMB: 256, Env: map[string]Value{
				"STREAM_NAME":         stream,
				"API_KEYS_SECRET_ARN": secret,
				"PROBE_CACHE_TTL":     {Literal: "3s"},
				"PROBE_TIMEOUT":       {Literal: "1s"},
				"METRICS_NAMESPACE":   metrics,
			}},
			"processor": {Name: "processor", LogicalID: "PipelineProcessorFunction2F53BB36", Timeout: 120 * time.Second, MemoryMB: 1024, Env: map[string]Value{
				"SINK_BUCKET":       {Ref: "PipelineSinkBucket9B53501E", RefType: "AWS::S3::Bucket"},
				"METRICS_NAMESPACE": metrics,
			}},
			"replay": {Name: "replay", LogicalID: "PipelineReplayFunction46C767E6", Timeout: 210 * time.Second, MemoryMB: 512, Env: map[string]Value{
				"STREAM_NAME":       stream,
				"SPILL_BUCKET":      spill,
				"SPILL_PREFIX":      {Literal: "spill"},
				"KINESIS_BUDGET":    {Literal: "20s"},
				"S3_TIMEOUT":        {Literal: "10s"},
				"METRICS_NAMESPACE": metrics,
				"PACK_RECORDS":      {Literal: "true"},
			}},
		},
		Routes: []Route{
			{Priority: 10, Paths: []string{"/v1/records"}, Function: "ingest"},
			{Priority: 20, Paths: []string{"/health", "/health/*"}, Function: "health"},
		},
		IngestHealth: HealthCheck{Path: "/health", Interval: 30 * time.Second, Timeout: 5 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2},
		DeepHealth:   HealthCheck{Path: "/health/deep", Interval: 5 * time.Second, Timeout: 4 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2},
		Kinesis: KinesisESM{BatchSize: 1000, MaxBatchingWindow: 5 * time.Second, BisectOnError: true, MaxRetryAttempts: 10000,
			ParallelizationFactor: 2, ReportBatchItemFailures: true, StartingPosition: "TRIM_HORIZON"},
		Replay:                  SQSESM{BatchSize: 5, ReportBatchItemFailures: true},
		ReplayVisibilityTimeout: 1260 * time.Second,
		ReplayMaxReceiveCount:   138,
		Shards:                  0, // on-demand
	}
}

func tplGoldenApp() *AppSpec {
	return &AppSpec{
		Regions: []RegionSpec{
			tplGoldenRegion("us-east-1", Value{Literal: "twinstream/api-keys"}),
			// The peer reads the primary's replica by name.
			tplGoldenRegion("us-west-2", Value{Literal: "twinstream/api-keys"}),
		},
		GlobalListenerPort: 443,
		Route53:            HealthCheck{Path: "/health/deep", Interval: 10 * time.Second, HealthyThreshold: 3, UnhealthyThreshold: 3},
	}
}

// tplCompareApp reports every field of got that differs from want.
func tplCompareApp(t *testing.T, got, want *AppSpec) {
	t.Helper()
	if len(got.Regions) != len(want.Regions) {
		t.Fatalf("got %d regions, want %d", len(got.Regions), len(want.Regions))
	}
	type check struct {
		name      string
		got, want any
	}
	checks := []check{
		{"GlobalListenerPort", got.GlobalListenerPort, want.GlobalListenerPort},
		{"Route53", got.Route53, want.Route53},
	}
	for i := range want.Regions {
		g, w := got.Regions[i], want.Regions[i]
		p := w.Region + "/"
		checks = append(checks,
			check{p + "Region", g.Region, w.Region},
			check{p + "StackName", g.StackName, w.StackName},
			check{p + "Routes", g.Routes, w.Routes},
			check{p + "IngestHealth", g.IngestHealth, w.IngestHealth},
			check{p + "DeepHealth", g.DeepHealth, w.DeepHealth},
			check{p + "Kinesis", g.Kinesis, w.Kinesis},
			check{p + "Replay", g.Replay, w.Replay},
			check{p + "ReplayVisibilityTimeout", g.ReplayVisibilityTimeout, w.ReplayVisibilityTimeout},
			check{p + "ReplayMaxReceiveCount", g.ReplayMaxReceiveCount, w.ReplayMaxReceiveCount},
			check{p + "Shards", g.Shards, w.Shards},
			check{p + "function names", tplKeys(g.Functions), tplKeys(w.Functions)},
		)
		for name, wf := range w.Functions {
			checks = append(checks, check{p + name, g.Functions[name], wf})
		}
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %+v, want %+v", c.got, c.want)
			}
		})
	}
}

func tplKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func TestReadAppGolden(t *testing.T) {
	got, err := ReadApp(tplGoldenDir)
	if err != nil {
		t.Fatalf("ReadApp(%s): got error %v, want none", tplGoldenDir, err)
	}
	tplCompareApp(t, got, tplGoldenApp())
}

// tplLoadGolden returns the golden templates as generic JSON, to mutate.
func tplLoadGolden(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for k, f := range tplGoldenFiles {
		b, err := os.ReadFile(filepath.Join(tplGoldenDir, f))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out[k] = m
	}
	return out
}

// tplWriteTemplates writes tpls into a new folder under their golden names.
func tplWriteTemplates(t *testing.T, tpls map[string]map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	for k, m := range tpls {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tplGoldenFiles[k]), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tplResources(tpl map[string]any) map[string]any { return tpl["Resources"].(map[string]any) }

// props returns the Properties of resource id.
func tplProps(tpl map[string]any, id string) map[string]any {
	return tplResources(tpl)[id].(map[string]any)["Properties"].(map[string]any)
}

func TestReadAppManifest(t *testing.T) {
	// The manifest lists the peer before the primary and names the files
	// differently from the stacks: regions, names and files must come from
	// it, and the primary must still come first.
	tpls := tplLoadGolden(t)
	dir := t.TempDir()
	files := map[string]string{"east": "a.json", "west": "b.json", "global": "c.json"}
	for k, m := range tpls {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, files[k]), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A stray template that the manifest does not list must be ignored.
	if err := os.WriteFile(filepath.Join(dir, "stray.template.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := `{"version":"55.0.0","artifacts":{
  "west-stack.assets":{"type":"cdk:asset-manifest","properties":{"file":"x.assets.json"}},
  "west-stack":{"type":"aws:cloudformation:stack","environment":"aws://unknown-account/us-west-2","properties":{"templateFile":"b.json"}},
  "global-stack":{"type":"aws:cloudformation:stack","environment":"aws://123456789012/us-west-2","properties":{"templateFile":"c.json"}},
  "east-id":{"type":"aws:cloudformation:stack","environment":"aws://unknown-account/us-east-1","properties":{"templateFile":"a.json","stackName":"east-stack"}},
  "Tree":{"type":"cdk:tree","properties":{"file":"tree.json"}}}}`
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadApp(dir)
	if err != nil {
		t.Fatalf("ReadApp: got error %v, want none", err)
	}
	want := tplGoldenApp()
	want.Regions[0].StackName = "east-stack"
	want.Regions[1].StackName = "west-stack"
	tplCompareApp(t, got, want)
}

// TestReadAppVariants reads valid variations of the golden templates.
func TestReadAppVariants(t *testing.T) {
	const east, west, global = "east", "west", "global"
	tests := []struct {
		name   string
		mutate func(tpls map[string]map[string]any)
		want   func(a *AppSpec)
	}{{
		// Without a domain the HTTP listener serves the rules and answers 404.
		name: "no domain: HTTP listener",
		mutate: func(tpls map[string]map[string]any) {
			for _, k := range []string{east, west} {
				res := tplResources(tpls[k])
				https := tplProps(tpls[k], "LoadBalancerHttps0C5C99D2")
				tplProps(tpls[k], "LoadBalancerHttpF4A6AC3E")["DefaultActions"] = https["DefaultActions"]
				delete(res, "LoadBalancerHttps0C5C99D2")
				for _, id := range []string{"LoadBalancerHttpsHealthRule8B5B88D4", "LoadBalancerHttpsIngestRule17E42E15"} {
					tplProps(tpls[k], id)["ListenerArn"] = map[string]any{"Ref": "LoadBalancerHttpF4A6AC3E"}
				}
			}
			tplProps(tpls[global], "AcceleratorListenerC766F638")["PortRanges"] = []any{map[string]any{"FromPort": 80, "ToPort": 80}}
		},
		want: func(a *AppSpec) { a.GlobalListenerPort = 80 },
	}, {
		name: "provisioned stream, numbers as strings, legacy path-pattern Values",
		mutate: func(tpls map[string]map[string]any) {
			s := tplProps(tpls[east], "PipelineStreamDD609695")
			s["StreamModeDetails"] = map[string]any{"StreamMode": "PROVISIONED"}
			s["ShardCount"] = 4
			tplProps(tpls[east], "PipelineIngestFunction9CB77B2E")["Timeout"] = "15"
			tplProps(tpls[east], "HealthTargetGroup0BD8EEB5")["HealthCheckEnabled"] = "true"
			tplProps(tpls[east], "LoadBalancerHttpsIngestRule17E42E15")["Conditions"] = []any{
				map[string]any{"Field": "path-pattern", "Values": []any{"/v1/records"}}}
			q := tplProps(tpls[west], "PipelineReplayQueue81531CEC")
			q["RedrivePolicy"] = `{"deadLetterTargetArn":"arn:aws:sqs:us-west-2:1:dlq","maxReceiveCount":7}`
		},
		want: func(a *AppSpec) {
			a.Regions[0].Shards = 4
			a.Regions[1].ReplayMaxReceiveCount = 7
		},
	}, {
		name: "rules listed in reverse priority, defaults for absent settings",
		mutate: func(tpls map[string]map[string]any) {
			tplProps(tpls[east], "LoadBalancerHttpsIngestRule17E42E15")["Priority"] = 30
			esm := tplProps(tpls[west], "PipelineProcessorFunctionKinesisEventSourcetwinstreamuswest2PipelineStream2B3BEA14B4661511")
			for _, k := range []string{"MaximumBatchingWindowInSeconds", "ParallelizationFactor", "MaximumRetryAttempts", "FunctionResponseTypes"} {
				delete(esm, k)
			}
			delete(tplProps(tpls[west], "PipelineHealthFunctionB9065716"), "MemorySize")
		},
		want: func(a *AppSpec) {
			a.Regions[0].Routes = []Route{
				{Priority: 20, Paths: []string{"/health", "/health/*"}, Function: "health"},
				{Priority: 30, Paths: []string{"/v1/records"}, Function: "ingest"},
			}
			k := &a.Regions[1].Kinesis
			k.MaxBatchingWindow, k.ParallelizationFactor, k.MaxRetryAttempts, k.ReportBatchItemFailures = 0, 1, -1, false
			h := a.Regions[1].Functions["health"]
			h.MemoryMB = 128
			a.Regions[1].Functions["health"] = h
		},
	}, {
		// A stack can also own the secret as an AWS::SecretsManager::Secret.
		name: "secret as an AWS::SecretsManager::Secret",
		mutate: func(tpls map[string]map[string]any) {
			res := tplResources(tpls[east])
			delete(res, "ApiKeysSecret5A58C5CD")
			res["ApiKeys3BB3983D"] = map[string]any{"Type": "AWS::SecretsManager::Secret", "Properties": map[string]any{
				"Name": "twinstream/api-keys"}}
		},
		want: func(a *AppSpec) {},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpls := tplLoadGolden(t)
			tc.mutate(tpls)
			got, err := ReadApp(tplWriteTemplates(t, tpls))
			if err != nil {
				t.Fatalf("ReadApp: got error %v, want none", err)
			}
			want := tplGoldenApp()
			tc.want(want)
			tplCompareApp(t, got, want)
		})
	}
}

func TestReadAppErrors(t *testing.T) {
	const east, west, global = "east", "west", "global"
	tests := []struct {
		name    string
		mutate  func(tpls map[string]map[string]any)
		wantErr []string // substrings of the error
	}{{
		name: "missing function",
		mutate: func(tpls map[string]map[string]any) {
			delete(tplResources(tpls[west]), "PipelineReplayFunction46C767E6")
		},
		wantErr: []string{"twinstream-us-west-2", "no replay function"},
	}, {
		name: "health checks disabled",
		mutate: func(tpls map[string]map[string]any) {
			tplProps(tpls[east], "HealthTargetGroup0BD8EEB5")["HealthCheckEnabled"] = false
		},
		wantErr: []string{"twinstream-us-east-1", "HealthTargetGroup0BD8EEB5", "HealthCheckEnabled is false"},
	}, {
		name: "health checks not enabled",
		mutate: func(tpls map[string]map[string]any) {
			delete(tplProps(tpls[west], "IngestTargetGroup69D5106D"), "HealthCheckEnabled")
		},
		wantErr: []string{"IngestTargetGroup69D5106D", "HealthCheckEnabled is absent"},
	}, {
		name: "Fn::Join in an env variable",
		mutate: func(tpls map[string]map[string]any) {
			env := tplProps(tpls[east], "PipelineIngestFunction9CB77B2E")["Environment"].(map[string]any)["Variables"].(map[string]any)
			env["STREAM_NAME"] = map[string]any{"Fn::Join": []any{"", []any{"a", "b"}}}
		},
		wantErr: []string{"function ingest", "env STREAM_NAME", "Fn::Join"},
	}, {
		name: "Ref to a parameter in an env variable",
		mutate: func(tpls map[string]map[string]any) {
			env := tplProps(tpls[east], "PipelineHealthFunctionB9065716")["Environment"].(map[string]any)["Variables"].(map[string]any)
			env["STREAM_NAME"] = map[string]any{"Ref": "BootstrapVersion"}
		},
		wantErr: []string{"env STREAM_NAME", "Ref BootstrapVersion is not a resource"},
	}, {
		// Without the step that creates the secret; the one that restores
		// it (a custom resource calling RestoreSecret) does not count.
		name:    "no primary",
		mutate:  func(tpls map[string]map[string]any) { delete(tplResources(tpls[east]), "ApiKeysSecret5A58C5CD") },
		wantErr: []string{"no primary region"},
	}, {
		name:    "no global stack",
		mutate:  func(tpls map[string]map[string]any) { delete(tplResources(tpls[global]), "Accelerator8EB0B6B1") },
		wantErr: []string{"no global stack"},
	}, {
		name: "host-header condition",
		mutate: func(tpls map[string]map[string]any) {
			tplProps(tpls[east], "LoadBalancerHttpsIngestRule17E42E15")["Conditions"] = []any{
				map[string]any{"Field": "host-header", "HostHeaderConfig": map[string]any{"Values": []any{"x"}}}}
		},
		wantErr: []string{"LoadBalancerHttpsIngestRule17E42E15", "only path-pattern"},
	}, {
		name: "default action forwards",
		mutate: func(tpls map[string]map[string]any) {
			tplProps(tpls[west], "LoadBalancerHttps0C5C99D2")["DefaultActions"] = []any{
				map[string]any{"Type": "forward", "TargetGroupArn": map[string]any{"Ref": "IngestTargetGroup69D5106D"}}}
		},
		wantErr: []string{"LoadBalancerHttps0C5C99D2", "want a fixed-response 404"},
	}, {
		name: "no kinesis mapping",
		mutate: func(tpls map[string]map[string]any) {
			delete(tplResources(tpls[east]), "PipelineProcessorFunctionKinesisEventSourcetwinstreamuseast1PipelineStream469038E5C8B2994F")
		},
		wantErr: []string{"processor function", "found 0"},
	}, {
		name: "replay mapping not on a queue",
		mutate: func(tpls map[string]map[string]any) {
			p := tplProps(tpls[east], "PipelineReplayFunctionSqsEventSourcetwinstreamuseast1PipelineReplayQueue3156F7E9A34F683F")
			p["EventSourceArn"] = "arn:aws:sqs:us-east-1:1:q"
		},
		wantErr: []string{"EventSourceArn", "AWS::SQS::Queue"},
	}, {
		name: "accelerator misses a region",
		mutate: func(tpls map[string]map[string]any) {
			delete(tplResources(tpls[global]), "AcceleratorListenerEndpointGroupUsWest2D9C8AF23")
		},
		wantErr: []string{"no endpoint group in us-west-2"},
	}, {
		name: "route 53 checks differ",
		mutate: func(tpls map[string]map[string]any) {
			tplProps(tpls[global], "HealthCheckUsWest2")["HealthCheckConfig"].(map[string]any)["RequestInterval"] = 30
		},
		wantErr: []string{"HealthCheckUsEast1", "HealthCheckUsWest2", "differ"},
	}, {
		name: "bad batch size",
		mutate: func(tpls map[string]map[string]any) {
			tplProps(tpls[east], "PipelineProcessorFunctionKinesisEventSourcetwinstreamuseast1PipelineStream469038E5C8B2994F")["BatchSize"] = "many"
		},
		wantErr: []string{"BatchSize", "want an integer"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpls := tplLoadGolden(t)
			tc.mutate(tpls)
			app, err := ReadApp(tplWriteTemplates(t, tpls))
			if err == nil {
				t.Fatalf("got app with %d regions and no error, want an error containing %q", len(app.Regions), tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestReadAppDirErrors(t *testing.T) {
	empty := t.TempDir()
	badManifest := t.TempDir()
	if err := os.WriteFile(filepath.Join(badManifest, "manifest.json"), []byte(
		`{"artifacts":{"s":{"type":"aws:cloudformation:stack","environment":"aws://unknown-account/unknown-region","properties":{"templateFile":"s.template.json"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, wantErr string
	}{
		{"empty folder", empty, "no stacks"},
		{"missing folder", filepath.Join(empty, "nope"), "no stacks"},
		{"env-agnostic stack", badManifest, "names no region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadApp(tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestResolveEnv(t *testing.T) {
	fs := FunctionSpec{Name: "ingest", Env: map[string]Value{
		"STREAM_NAME":    {Ref: "PipelineStreamDD609695", RefType: "AWS::Kinesis::Stream"},
		"KINESIS_BUDGET": {Literal: "3s"},
		"EMPTY":          {Literal: ""},
	}}
	local := func(v Value) (string, error) {
		if v.RefType == "AWS::Kinesis::Stream" {
			return "local-stream", nil
		}
		return "", errors.New("unknown")
	}
	tests := []struct {
		name    string
		fs      FunctionSpec
		resolve func(Value) (string, error)
		want    map[string]string
		wantErr string
	}{
		{"refs resolved, literals unchanged", fs, local,
			map[string]string{"STREAM_NAME": "local-stream", "KINESIS_BUDGET": "3s", "EMPTY": ""}, ""},
		{"literals only need no resolver", FunctionSpec{Name: "x", Env: map[string]Value{"A": {Literal: "1"}}}, nil,
			map[string]string{"A": "1"}, ""},
		{"resolver error names the variable", fs, func(Value) (string, error) { return "", errors.New("boom") },
			nil, "function ingest: env STREAM_NAME: boom"},
		{"nil resolver with a ref", fs, nil, nil, "env STREAM_NAME: no resolver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.fs.ResolveEnv(tc.resolve)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
