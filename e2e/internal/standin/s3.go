package standin

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 is gofakes3 v1.2.0 (in-memory backend) served in-process on
// 127.0.0.1. Clients must use path-style addressing.
type S3 struct {
	srv     *httptest.Server
	failing atomic.Bool
	onPut   atomic.Pointer[func(bucket, key string, size int64)]

	mu      sync.Mutex
	buckets map[string]bool // buckets failing on their own (FailBucket)
}

// StartS3 starts the S3 stand-in, closed when the test ends.
func StartS3(t T) *S3 {
	t.Helper()
	s := &S3{}
	faker := gofakes3.New(s3mem.New())
	h := faker.Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.failing.Load() || s.bucketFailing(r) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>standin: failing on purpose</Message></Error>`)
			return
		}
		f := s.onPut.Load()
		if f == nil || r.Method != http.MethodPut || !plainPut(r) {
			h.ServeHTTP(w, r)
			return
		}
		rec := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); ok && key != "" && (rec.status == 0 || rec.status == http.StatusOK) {
			(*f)(bucket, key, r.ContentLength)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// OnPut calls f after every successful PutObject (path-style requests, so
// the key is the URL path after the bucket): a stand-in for S3 event
// notifications, which gofakes3 does not send. f runs on the request's
// goroutine, before the client gets its answer.
func (s *S3) OnPut(f func(bucket, key string, size int64)) { s.onPut.Store(&f) }

// plainPut tells a PutObject (the SDK adds x-id=PutObject) from the other
// PUTs: parts of multipart uploads, tagging, ACLs, CopyObject.
func plainPut(r *http.Request) bool {
	for k := range r.URL.Query() {
		if k != "x-id" {
			return false
		}
	}
	return r.Header.Get("X-Amz-Copy-Source") == ""
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Endpoint returns the base URL.
func (s *S3) Endpoint() string { return s.srv.URL }

// Env returns AWS_ENDPOINT_URL_S3 and S3_USE_PATH_STYLE=true (the
// project's convention for local S3) for a child process.
func (s *S3) Env() []string {
	return []string{"AWS_ENDPOINT_URL_S3=" + s.Endpoint(), "S3_USE_PATH_STYLE=true"}
}

// Fail makes every request answer 503 ServiceUnavailable while on is true:
// an S3 outage for tests of what happens when the spill or sink bucket
// cannot be written.
func (s *S3) Fail(on bool) { s.failing.Store(on) }

// FailBucket makes every request to one bucket answer 503
// ServiceUnavailable while on is true, as Fail does for all: an outage of
// the spill or the sink bucket alone, the other buckets of the stand-in
// still working. Requests that name no bucket (ListBuckets) are not failed.
func (s *S3) FailBucket(bucket string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets == nil {
		s.buckets = map[string]bool{}
	}
	if on {
		s.buckets[bucket] = true
	} else {
		delete(s.buckets, bucket)
	}
}

// bucketFailing reports whether r (path-style) goes to a bucket that
// FailBucket turned off.
func (s *S3) bucketFailing(r *http.Request) bool {
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buckets[bucket]
}

// Client returns a path-style S3 client for this stand-in.
func (s *S3) Client(optFns ...func(*s3.Options)) *s3.Client {
	endpoint := s.Endpoint()
	opts := append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}}, optFns...)
	return s3.NewFromConfig(AWSConfig(DefaultRegion), opts...)
}

// CreateBucket creates a bucket.
func (s *S3) CreateBucket(ctx context.Context, name string) error {
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// Object is an object read back from the stand-in.
type Object struct {
	Key         string
	ContentType string
	// Body is the object's content, gunzipped when the key ends in ".gz".
	Body []byte
}

// Objects returns every object under prefix in key order, with its body.
func (s *S3) Objects(ctx context.Context, bucket, prefix string) ([]Object, error) {
	c := s.Client()
	var objs []Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			obj, err := s.get(ctx, c, bucket, aws.ToString(o.Key))
			if err != nil {
				return nil, err
			}
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

func (s *S3) get(ctx context.Context, c *s3.Client, bucket, key string) (Object, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return Object{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return Object{}, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if strings.HasSuffix(key, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return Object{}, fmt.Errorf("gunzip s3://%s/%s: %w", bucket, key, err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			return Object{}, fmt.Errorf("gunzip s3://%s/%s: %w", bucket, key, err)
		}
	}
	return Object{Key: key, ContentType: aws.ToString(out.ContentType), Body: body}, nil
}
