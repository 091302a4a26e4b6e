package standin_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestS3PutGetListDelete checks the calls the handlers make, with the SDK's
// default checksum settings, against gofakes3.
func TestS3PutGetListDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	s := standin.StartS3(t)
	if err := s.CreateBucket(ctx, "sink"); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	puts := []struct {
		key, contentType string
		body             []byte
	}{
		{"records/region=us-east-1/dt=2024-01-02/hr=03/a.ndjson.gz", "application/gzip", gz(t, "{\"id\":\"a\"}\n")},
		{"records/region=us-east-1/dt=2024-01-02/hr=03/b.ndjson.gz", "application/gzip", gz(t, "{\"id\":\"b\"}\n")},
		{"spill/region=us-east-1/dt=2024-01-02/hr=03/c.ndjson", "application/x-ndjson", []byte("{\"id\":\"c\"}\n")},
	}
	for _, p := range puts {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String("sink"),
			Key:         aws.String(p.key),
			Body:        bytes.NewReader(p.body),
			ContentType: aws.String(p.contentType),
		}); err != nil {
			t.Fatalf("PutObject %s: %v", p.key, err)
		}
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sink"), Key: aws.String(puts[2].key)})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(puts[2].body) {
		t.Errorf("GetObject body: got %q, want %q", body, puts[2].body)
	}

	objs, err := s.Objects(ctx, "sink", "records/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Key+" "+strings.TrimSpace(string(o.Body))+" "+o.ContentType)
	}
	want := []string{
		puts[0].key + ` {"id":"a"} application/gzip`,
		puts[1].key + ` {"id":"b"} application/gzip`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Objects(records/):\ngot  %q\nwant %q", got, want)
	}

	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("sink"), Key: aws.String(puts[2].key)}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	objs, err = s.Objects(ctx, "sink", "spill/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Errorf("objects under spill/ after delete: got %d, want 0", len(objs))
	}
}

func TestS3Fail(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	s := standin.StartS3(t)
	if err := s.CreateBucket(ctx, "spill"); err != nil {
		t.Fatal(err)
	}
	c := s.Client(func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	put := func() error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("spill"), Key: aws.String("k"), Body: strings.NewReader("x")})
		return err
	}
	s.Fail(true)
	var ae smithy.APIError
	if err := put(); !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("PutObject while failing: got %v, want ServiceUnavailable", err)
	}
	s.Fail(false)
	if err := put(); err != nil {
		t.Errorf("PutObject after Fail(false): got %v, want success", err)
	}
}

// TestS3FailBucket: one bucket fails, the other keeps working, and the
// failing one works again after FailBucket(false).
func TestS3FailBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	s := standin.StartS3(t)
	for _, b := range []string{"spill", "sink"} {
		if err := s.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	c := s.Client(func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	put := func(bucket string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("x")})
		return err
	}
	s.FailBucket("spill", true)
	var ae smithy.APIError
	if err := put("spill"); !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("PutObject to the failing bucket: got %v, want ServiceUnavailable", err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("spill")}); err == nil {
		t.Errorf("ListObjectsV2 of the failing bucket: got success, want an error")
	}
	if err := put("sink"); err != nil {
		t.Errorf("PutObject to the other bucket: got %v, want success", err)
	}
	s.FailBucket("spill", false)
	if err := put("spill"); err != nil {
		t.Errorf("PutObject after FailBucket(false): got %v, want success", err)
	}
	objs, err := s.Objects(ctx, "spill", "")
	if err != nil || len(objs) != 1 {
		t.Errorf("objects in spill: got %d, %v, want 1 (the put after recovery)", len(objs), err)
	}
}
