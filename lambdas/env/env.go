// Package env reads a handler's configuration from its Lambda environment and
// loads the AWS SDK configuration once per execution environment. Errors name
// the variable and the value, and go back to main.
package env

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Reader collects configuration errors so main can report them all at once.
type Reader struct {
	Lookup func(string) (string, bool)
	errs   []error
}

// New reads the process environment.
func New() *Reader { return &Reader{Lookup: os.LookupEnv} }

// Err returns every configuration error in one (nil when there is none), so
// one deploy shows all that is wrong. errors.Is and errors.As see each one.
func (r *Reader) Err() error {
	switch len(r.errs) {
	case 0:
		return nil
	case 1:
		return r.errs[0]
	}
	return errList(slices.Clone(r.errs))
}

// errList is errors.Join on one line: Lambda logs read better that way.
type errList []error

func (l errList) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l errList) Unwrap() []error { return l }

func (r *Reader) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

// String returns a required, non-empty variable.
func (r *Reader) String(name string) string {
	v, ok := r.Lookup(name)
	if !ok || v == "" {
		r.fail("environment variable %s is required", name)
	}
	return v
}

// StringOr returns the variable, or def when it is unset or empty.
func (r *Reader) StringOr(name, def string) string {
	if v, ok := r.Lookup(name); ok && v != "" {
		return v
	}
	return def
}

// Duration returns a Go duration ("1500ms", "2s"), or def when unset; it must be positive.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v, ok := r.Lookup(name)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail("environment variable %s=%q: want a positive duration such as 2s or 500ms", name, v)
		return def
	}
	return d
}

// Int returns an integer in [min, max], or def when unset.
func (r *Reader) Int(name string, def, min, max int) int {
	v, ok := r.Lookup(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail("environment variable %s=%q: want an integer from %d to %d", name, v, min, max)
		return def
	}
	return n
}

// Bool returns true for "true"/"1", false for "false"/"0", or def when unset.
func (r *Reader) Bool(name string, def bool) bool {
	v, ok := r.Lookup(name)
	if !ok || v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail("environment variable %s=%q: want true or false", name, v)
		return def
	}
	return b
}

// AWS builds the SDK configuration from the variables Lambda sets: AWS_REGION
// and the execution role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN. Service endpoints can be overridden with
// AWS_ENDPOINT_URL_<SERVICE> (AWS_ENDPOINT_URL_KINESIS, _S3, _SQS,
// _SECRETS_MANAGER), as the SDK documents; the tests and the local drill use
// them.
//
// It does not use the SDK's config package: in Lambda these variables are the
// whole configuration, and that package (profiles, SSO, IMDS, STS) adds
// 1.6 MB to every bootstrap, which pushed the handlers over their 10 MB budget.
func AWS(ctx context.Context) (aws.Config, error) {
	return New().AWS(ctx)
}

// AWS is the package function AWS reading r's variables.
func (r *Reader) AWS(_ context.Context) (aws.Config, error) {
	lookup := r.Lookup
	get := func(k string) string { v, _ := lookup(k); return v }
	region := get("AWS_REGION")
	if region == "" {
		region = get("AWS_DEFAULT_REGION")
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("load aws config: AWS_REGION is required")
	}
	id, secret := get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("load aws config: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required (Lambda sets them from the execution role)")
	}
	cfg := aws.Config{
		Region:        region,
		Credentials:   aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, get("AWS_SESSION_TOKEN"))),
		ConfigSources: []any{endpoints{lookup: lookup}},
	}
	if v := get("AWS_ENDPOINT_URL"); v != "" {
		cfg.BaseEndpoint = aws.String(v)
	}
	return cfg, nil
}

// endpoints answers the SDK clients' question for a service-specific endpoint
// (they look for a GetServiceBaseEndpoint method among aws.Config.ConfigSources).
type endpoints struct {
	lookup func(string) (string, bool)
}

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SDK ID>, the SDK ID upper-cased
// with spaces as underscores ("Secrets Manager" -> SECRETS_MANAGER).
func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	name := "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_"))
	v, ok := e.lookup(name)
	return v, ok && v != "", nil
}
