package replay_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/twinstream/twinstream/lambdas/replay/replay"
)

// TestReplayGoFakeS3 runs the replayer against gofakes3 through the real S3
// client, so the SDK's own errors (NoSuchKey, NoSuchBucket) and a key that
// needs escaping in the request path are what the replayer sees.
func TestReplayGoFakeS3(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	spill := readFile(t, "testdata/spill.ndjson")
	const key = "spill/region=us-east-1/dt=2026-01-02/hr=03/a file é+%.ndjson"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(spill), ContentType: aws.String("application/x-ndjson"),
	}); err != nil {
		t.Fatal(err)
	}
	// The key as S3 notifications spell it.
	raw := "spill/region%3Dus-east-1/dt%3D2026-01-02/hr%3D03/a+file+%C3%A9%2B%25.ndjson"

	k := &fakeKinesis{t: t}
	var logs bytes.Buffer
	r := &replay.Replayer{Get: client, Delete: client, Stream: k.writer(), Log: slog.New(slog.NewTextHandler(&logs, nil))}

	// The steps run in order against one bucket.
	steps := []struct {
		name    string
		body    string
		failed  []string
		written [][]byte
		log     string
	}{
		{name: "replays and deletes", body: created(t, raw), written: lines(spill), log: "replayed spill object"},
		{name: "again: NoSuchKey, success", body: created(t, raw), log: "already gone"},
		{name: "missing bucket fails", body: s3Body(t, "no-such-bucket", "ObjectCreated:Put", raw), failed: []string{"m"}, log: "NoSuchBucket"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			k.written = nil
			logs.Reset()
			got := r.Replay(ctx, []replay.Message{{ID: "m", Body: st.body}})
			if !slices.Equal(got, st.failed) {
				t.Errorf("failed: got %q, want %q", got, st.failed)
			}
			if err := sameSet(k.written, st.written); err != nil {
				t.Error(err)
			}
			if !strings.Contains(logs.String(), st.log) {
				t.Errorf("log: got %q, want it to contain %q", logs.String(), st.log)
			}
		})
	}
	_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Errorf("after replay: got %v, want NoSuchKey (object deleted)", err)
	}
}
