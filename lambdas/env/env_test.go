package env

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// reader reads from vars instead of the process environment.
func reader(vars map[string]string) *Reader {
	return &Reader{Lookup: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
}

// checkErr checks r.Err: nil when want is "", else containing want.
func checkErr(t *testing.T, r *Reader, want string) {
	t.Helper()
	err := r.Err()
	if want == "" {
		if err != nil {
			t.Errorf("Err: got %v, want nil", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Err: got %v, want one containing %q", err, want)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    string
		wantErr string
	}{
		{"set", map[string]string{"STREAM_NAME": "orders"}, "orders", ""},
		{"spaces kept", map[string]string{"STREAM_NAME": " a b "}, " a b ", ""},
		{"missing", nil, "", "environment variable STREAM_NAME is required"},
		{"empty", map[string]string{"STREAM_NAME": ""}, "", "environment variable STREAM_NAME is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader(tt.vars)
			if got := r.String("STREAM_NAME"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			checkErr(t, r, tt.wantErr)
		})
	}
}

func TestStringOr(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"set", map[string]string{"SPILL_PREFIX": "custom"}, "custom"},
		{"missing", nil, "spill"},
		{"empty", map[string]string{"SPILL_PREFIX": ""}, "spill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader(tt.vars)
			if got := r.StringOr("SPILL_PREFIX", "spill"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			checkErr(t, r, "")
		})
	}
}

func TestDuration(t *testing.T) {
	const def = 3 * time.Second
	tests := []struct {
		name    string
		vars    map[string]string
		want    time.Duration
		wantErr string
	}{
		{"seconds", map[string]string{"BUDGET": "2s"}, 2 * time.Second, ""},
		{"milliseconds", map[string]string{"BUDGET": "1500ms"}, 1500 * time.Millisecond, ""},
		{"compound", map[string]string{"BUDGET": "1m30s"}, 90 * time.Second, ""},
		{"missing", nil, def, ""},
		{"empty", map[string]string{"BUDGET": ""}, def, ""},
		{"no unit", map[string]string{"BUDGET": "5"}, def, `BUDGET="5": want a positive duration`},
		{"garbage", map[string]string{"BUDGET": "soon"}, def, `BUDGET="soon"`},
		{"zero", map[string]string{"BUDGET": "0s"}, def, `BUDGET="0s": want a positive duration`},
		{"negative", map[string]string{"BUDGET": "-1s"}, def, `BUDGET="-1s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader(tt.vars)
			if got := r.Duration("BUDGET", def); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			checkErr(t, r, tt.wantErr)
		})
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    int
		wantErr string
	}{
		{"in range", map[string]string{"MAX_RECORDS": "250"}, 250, ""},
		{"min", map[string]string{"MAX_RECORDS": "1"}, 1, ""},
		{"max", map[string]string{"MAX_RECORDS": "500"}, 500, ""},
		{"plus sign", map[string]string{"MAX_RECORDS": "+7"}, 7, ""},
		{"missing", nil, 100, ""},
		{"empty", map[string]string{"MAX_RECORDS": ""}, 100, ""},
		{"below", map[string]string{"MAX_RECORDS": "0"}, 100, `MAX_RECORDS="0": want an integer from 1 to 500`},
		{"above", map[string]string{"MAX_RECORDS": "501"}, 100, `MAX_RECORDS="501": want an integer from 1 to 500`},
		{"not a number", map[string]string{"MAX_RECORDS": "ten"}, 100, `MAX_RECORDS="ten"`},
		{"float", map[string]string{"MAX_RECORDS": "2.5"}, 100, `MAX_RECORDS="2.5"`},
		{"spaces", map[string]string{"MAX_RECORDS": " 5"}, 100, `MAX_RECORDS=" 5"`},
		{"overflow", map[string]string{"MAX_RECORDS": "99999999999999999999"}, 100, "want an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader(tt.vars)
			if got := r.Int("MAX_RECORDS", 100, 1, 500); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
			checkErr(t, r, tt.wantErr)
		})
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		def     bool
		want    bool
		wantErr string
	}{
		{"true", map[string]string{"S3_USE_PATH_STYLE": "true"}, false, true, ""},
		{"one", map[string]string{"S3_USE_PATH_STYLE": "1"}, false, true, ""},
		{"false", map[string]string{"S3_USE_PATH_STYLE": "false"}, true, false, ""},
		{"zero", map[string]string{"S3_USE_PATH_STYLE": "0"}, true, false, ""},
		{"upper case", map[string]string{"S3_USE_PATH_STYLE": "TRUE"}, false, true, ""},
		{"missing keeps default true", nil, true, true, ""},
		{"missing keeps default false", nil, false, false, ""},
		{"empty", map[string]string{"S3_USE_PATH_STYLE": ""}, true, true, ""},
		{"yes is not a bool", map[string]string{"S3_USE_PATH_STYLE": "yes"}, true, true, `S3_USE_PATH_STYLE="yes": want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reader(tt.vars)
			if got := r.Bool("S3_USE_PATH_STYLE", tt.def); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			checkErr(t, r, tt.wantErr)
		})
	}
}

func TestErrAggregates(t *testing.T) {
	r := reader(map[string]string{"A_INT": "x", "A_DUR": "1", "A_BOOL": "maybe", "OK": "fine"})
	r.String("OK")
	r.String("MISSING_ONE")
	r.Int("A_INT", 1, 0, 10)
	r.Duration("A_DUR", time.Second)
	r.Bool("A_BOOL", false)
	r.StringOr("MISSING_TWO", "d")
	err := r.Err()
	if err == nil {
		t.Fatal("got nil, want the four errors")
	}
	msg := err.Error()
	for _, want := range []string{"MISSING_ONE is required", `A_INT="x"`, `A_DUR="1"`, `A_BOOL="maybe"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("got %q, want it to contain %q", msg, want)
		}
	}
	for _, unwanted := range []string{"OK", "MISSING_TWO", "\n"} {
		if strings.Contains(msg, unwanted) {
			t.Errorf("got %q, want no %q in it", msg, unwanted)
		}
	}
	var parts interface{ Unwrap() []error }
	if !errors.As(err, &parts) || len(parts.Unwrap()) != 4 {
		t.Errorf("got %T, want an error wrapping the 4 errors", err)
	}
	// Later reads add to it; the error returned earlier does not change.
	r.String("MISSING_THREE")
	if got := len(r.Err().(interface{ Unwrap() []error }).Unwrap()); got != 5 {
		t.Errorf("after one more failure: got %d errors, want 5", got)
	}
	if got := len(parts.Unwrap()); got != 4 {
		t.Errorf("earlier error: got %d errors, want still 4", got)
	}

	one := reader(nil)
	one.String("ONLY")
	if got, want := one.Err().Error(), "environment variable ONLY is required"; got != want {
		t.Errorf("one error: got %q, want %q", got, want)
	}
	if err := reader(nil).Err(); err != nil {
		t.Errorf("no reads: got %v, want nil", err)
	}
}

func TestNewReadsProcessEnvironment(t *testing.T) {
	t.Setenv("TWINSTREAM_TEST_VAR", "from-env")
	r := New()
	if got := r.String("TWINSTREAM_TEST_VAR"); got != "from-env" {
		t.Errorf("got %q, want %q", got, "from-env")
	}
	checkErr(t, r, "")
}

// isolateAWS points the SDK's shared config at empty files and sets static
// credentials, so the tests read nothing from the machine.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":                     filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":         filepath.Join(dir, "credentials"),
		"AWS_PROFILE":                         "",
		"AWS_DEFAULT_PROFILE":                 "",
		"AWS_REGION":                          "eu-west-3",
		"AWS_DEFAULT_REGION":                  "",
		"AWS_ACCESS_KEY_ID":                   "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":               "secret",
		"AWS_SESSION_TOKEN":                   "",
		"AWS_EC2_METADATA_DISABLED":           "true",
		"AWS_ENDPOINT_URL":                    "",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
	} {
		t.Setenv(k, v)
	}
}

func TestAWS(t *testing.T) {
	isolateAWS(t)
	var mu sync.Mutex
	var target string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		target = r.Header.Get("X-Amz-Target")
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"StreamNames":["orders"],"HasMoreStreams":false}`)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", srv.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := AWS(ctx)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if cfg.Region != "eu-west-3" {
		t.Errorf("region: got %q, want %q", cfg.Region, "eu-west-3")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKIDTEST" {
		t.Errorf("credentials: got %q, %v, want AKIDTEST from the environment", creds.AccessKeyID, err)
	}
	// The per-service endpoint variable reaches the service client.
	out, err := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 }).ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatalf("ListStreams against AWS_ENDPOINT_URL_KINESIS: got error %v, want nil", err)
	}
	if len(out.StreamNames) != 1 || out.StreamNames[0] != "orders" {
		t.Errorf("streams: got %v, want [orders]", out.StreamNames)
	}
	mu.Lock()
	defer mu.Unlock()
	if target != "Kinesis_20131202.ListStreams" {
		t.Errorf("request target: got %q, want %q", target, "Kinesis_20131202.ListStreams")
	}
}

func TestAWSError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		unset []string
		want  string
	}{
		{"no region", []string{"AWS_REGION", "AWS_DEFAULT_REGION"}, "load aws config: AWS_REGION is required"},
		{"no key id", []string{"AWS_ACCESS_KEY_ID"}, "load aws config: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"},
		{"no secret", []string{"AWS_SECRET_ACCESS_KEY"}, "load aws config: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWS(t)
			for _, k := range tc.unset {
				t.Setenv(k, "")
			}
			_, err := AWS(context.Background())
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestAWSDefaultRegionAndToken(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "ap-south-2")
	t.Setenv("AWS_SESSION_TOKEN", "tok")
	cfg, err := AWS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if cfg.Region != "ap-south-2" || err != nil || creds.SessionToken != "tok" {
		t.Errorf("got region %q, token %q (%v), want ap-south-2 and tok", cfg.Region, creds.SessionToken, err)
	}
}

func TestServiceEndpoints(t *testing.T) {
	e := endpoints{lookup: func(k string) (string, bool) {
		v, ok := map[string]string{
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1",
			"AWS_ENDPOINT_URL_S3":              "http://127.0.0.1:2",
			"AWS_ENDPOINT_URL_SQS":             "",
		}[k]
		return v, ok
	}}
	for _, tc := range []struct {
		sdkID, want string
		found       bool
	}{
		{"Secrets Manager", "http://127.0.0.1:1", true},
		{"S3", "http://127.0.0.1:2", true},
		{"SQS", "", false},
		{"Kinesis", "", false},
	} {
		got, found, err := e.GetServiceBaseEndpoint(context.Background(), tc.sdkID)
		if got != tc.want || found != tc.found || err != nil {
			t.Errorf("%s: got %q, %v, %v, want %q, %v, nil", tc.sdkID, got, found, err, tc.want, tc.found)
		}
	}
}
