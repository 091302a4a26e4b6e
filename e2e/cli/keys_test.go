package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/cmd/twinstream/cli"
	"github.com/twinstream/twinstream/e2e/internal/standin"
	"github.com/twinstream/twinstream/lambdas/ingest/ingest"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// startIngest runs the ingest handler of region in-process, writing to the
// region's stream and spill bucket and reading the API-key secret from the
// region (the replica, for us-west-2), re-read on every request.
func (w *world) startIngest(t *testing.T, region string) string {
	t.Helper()
	h, err := ingest.New(ingest.Config{
		Region:        region,
		SpillBucket:   spill(region),
		KeysSecretARN: "twinstream/api-keys",
		KeysTTL:       time.Nanosecond,
	}, ingest.Deps{
		Kinesis: &stream.Writer{Client: w.kin[region].Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 }), StreamName: streamName(region), CallTimeout: time.Second},
		S3:      w.s3.Client(),
		Secrets: secretsmanager.NewFromConfig(standin.AWSConfig(region), func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(w.sm.URL()) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/records"
}

// post sends one record with key and returns the status.
func post(t *testing.T, url, key, id string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"records":[{"id":"`+id+`","data":{"n":1}}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestKeysAcceptedByIngest: what `keys add` writes is a key set ingest
// accepts (in the replica region too), the printed key authenticates as the
// producer named, a rotation keeps both keys working, a revoke ends one.
func TestKeysAcceptedByIngest(t *testing.T) {
	w := newWorld(t)
	url := w.startIngest(t, "us-west-2")
	add := func() string {
		t.Helper()
		code, out, errs := w.run(t, "keys", "add", "team-a")
		if code != cli.ExitOK {
			t.Fatalf("keys add: exit %d: %s", code, errs)
		}
		return strings.TrimSpace(out)
	}
	keyA := add()
	if got := post(t, url, keyA, "a-1"); got != http.StatusAccepted {
		t.Fatalf("first key: got %d, want 202", got)
	}
	keyB := add()
	for _, k := range []struct{ key, id string }{{keyA, "a-2"}, {keyB, "b-1"}} {
		if got := post(t, url, k.key, k.id); got != http.StatusAccepted {
			t.Errorf("during the rotation, record %s: got %d, want 202", k.id, got)
		}
	}
	sumA := sha256.Sum256([]byte(keyA))
	if code, _, errs := w.run(t, "keys", "revoke", "team-a", "--sha256", hex.EncodeToString(sumA[:])[:10]); code != cli.ExitOK {
		t.Fatalf("revoke: exit %d: %s", code, errs)
	}
	if got := post(t, url, keyA, "a-3"); got != http.StatusUnauthorized {
		t.Errorf("revoked key: got %d, want 401", got)
	}
	if got := post(t, url, keyB, "b-2"); got != http.StatusAccepted {
		t.Errorf("the other key after the revoke: got %d, want 202", got)
	}

	// Every accepted record is team-a's.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	recs, err := w.kin["us-west-2"].ReadAll(ctx, streamName("us-west-2"))
	if err != nil {
		t.Fatal(err)
	}
	envs, err := standin.Envelopes(recs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range envs {
		if e.Producer != "team-a" {
			t.Errorf("record %s: producer %q, want team-a", e.ID, e.Producer)
		}
		ids = append(ids, e.ID)
	}
	if got := strings.Join(ids, ","); len(ids) != 4 || !strings.Contains(got, "a-1") || !strings.Contains(got, "b-2") || strings.Contains(got, "a-3") {
		t.Errorf("stream holds %s, want a-1, a-2, b-1, b-2", got)
	}
}
