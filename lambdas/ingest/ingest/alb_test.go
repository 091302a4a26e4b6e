package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/lambdas/albhttp"
	"github.com/twinstream/twinstream/lambdas/ingest/ingest"
	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// TestALBFixtures runs the event fixtures through the ALB adapter, as Lambda
// would. The fixtures' Bearer key is ts-test-key-0123456789, whose SHA-256
// (9cf4af11f624260a01f669e67954f77394911a51dd32fa3e522b5bace0f8eddc) is
// team-test's in testdata/api-keys-secret.json.
func TestALBFixtures(t *testing.T) {
	secret, err := os.ReadFile("testdata/api-keys-secret.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file   string
		status int
		ids    []string // "" for a generated id
		enc    []string
	}{
		{"alb-post-records.json", 202, []string{"order-1001", "", ""}, []string{"json", "json", "base64"}},
		{"alb-post-ndjson.json", 202, []string{"evt-1", "evt-2"}, []string{"json", "json"}},
		{"alb-post-binary.json", 202, []string{"blob-7"}, []string{"base64"}},
		{"alb-post-no-key.json", 401, nil, nil},
		{"alb-get-records.json", 405, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var written []stream.Entry
			h, err := ingest.New(ingest.Config{Region: "us-east-1", SpillBucket: "b", KeysSecretARN: "arn:secret"}, ingest.Deps{
				Kinesis: ingest.PutFunc(func(_ context.Context, e []stream.Entry) stream.Result {
					written = append(written, e...)
					return stream.Result{Calls: 1}
				}),
				S3: ingest.PutObjectFunc(func(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
					return nil, errors.New("no spill expected")
				}),
				Secrets: ingest.GetSecretValueFunc(func(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
					return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(secret))}, nil
				}),
				Now: func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) },
			})
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.ALBTargetGroupRequest
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			resp, err := albhttp.Handler(h)(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			ct := resp.Headers["Content-Type"]
			if len(ev.MultiValueHeaders) > 0 {
				ct = resp.MultiValueHeaders["Content-Type"][0]
			}
			if ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var body struct {
				Accepted int      `json:"accepted"`
				IDs      []string `json:"ids"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatalf("body %q: %v", resp.Body, err)
			}
			if tt.status != 202 {
				if len(written) != 0 {
					t.Errorf("%d records written for a %d answer, want 0", len(written), tt.status)
				}
				return
			}
			if body.Accepted != len(tt.ids) || len(written) != len(tt.ids) {
				t.Fatalf("accepted %d, written %d, want %d", body.Accepted, len(written), len(tt.ids))
			}
			var encs []string
			for i, e := range written {
				env, err := record.Decode(e.Data)
				if err != nil {
					t.Fatal(err)
				}
				if want := tt.ids[i]; want != "" && env.ID != want {
					t.Errorf("record %d id %q, want %q", i, env.ID, want)
				}
				if env.ID != body.IDs[i] {
					t.Errorf("record %d id %q, answer says %q", i, env.ID, body.IDs[i])
				}
				encs = append(encs, env.Encoding)
			}
			if !slices.Equal(encs, tt.enc) {
				t.Errorf("encodings %v, want %v", encs, tt.enc)
			}
		})
	}
}
