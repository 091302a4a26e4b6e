// Package env reads a handler's configuration from its Lambda environment and
// loads the AWS SDK configuration once per execution environment. Errors name
// the variable and the value, and go back to main.
package env

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Reader collects configuration errors so main can report them all at once.
type Reader struct {
	Lookup func(string) (string, bool)
	errs   []error
}

// New reads the process environment.
func New() *Reader { return &Reader{Lookup: os.LookupEnv} }

// Err returns the first configuration error, with how many more there are.
func (r *Reader) Err() error {
	switch len(r.errs) {
	case 0:
		return nil
	case 1:
		return r.errs[0]
	}
	return fmt.Errorf("%w (and %d more configuration errors)", r.errs[0], len(r.errs)-1)
}

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

// AWS loads the SDK configuration: region, credentials, and service endpoints
// from AWS_ENDPOINT_URL_<SERVICE> (which the tests and the local drill use).
// Clients whose calls the handler retries itself within a deadline budget
// (Kinesis writes) set RetryMaxAttempts = 1 in their own options.
func AWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return cfg, nil
}
