package standin_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

const echoPkg = "./e2e/internal/standin/testdata/echo"

func TestBuildBootstrap(t *testing.T) {
	a := standin.BuildBootstrap(t, echoPkg)
	if got := filepath.Base(a); got != "bootstrap" {
		t.Errorf("bootstrap file name: got %s, want bootstrap", got)
	}
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&0o111 == 0 {
		t.Errorf("bootstrap mode: got %v, want executable", fi.Mode())
	}
	if b := standin.BuildBootstrap(t, echoPkg); b != a {
		t.Errorf("second build: got %s, want the cached %s", b, a)
	}
}

func TestRIEInvoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	boot := standin.BuildBootstrap(t, echoPkg)
	rie := standin.StartRIE(t, boot, []string{"ECHO_VAR=from-env", "AWS_LAMBDA_FUNCTION_TIMEOUT=2"})

	big := `{"data":"` + strings.Repeat("x", 200<<10) + `"}`
	for _, tc := range []struct {
		name, event, want string
	}{
		{"object", `{"a":1,"b":[true,null,"s"]}`, `{"a":1,"b":[true,null,"s"]}`},
		{"string", `"hello"`, `"hello"`},
		{"env", `{"env":"ECHO_VAR"}`, `{"ECHO_VAR":"from-env"}`},
		{"host env not passed", `{"env":"HOME"}`, `{"HOME":""}`},
		{"big", big, big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rie.Invoke(ctx, []byte(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Invoke(%.60s): got %.60s (%d bytes), want %.60s (%d bytes)", tc.event, got, len(got), tc.want, len(tc.want))
			}
		})
	}

	t.Run("function error", func(t *testing.T) {
		_, err := rie.Invoke(ctx, []byte(`{"fail":"boom"}`))
		var fe *standin.FunctionError
		if !errors.As(err, &fe) || fe.Message != "boom" {
			t.Fatalf("Invoke: got %v, want FunctionError boom", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		_, err := rie.Invoke(ctx, []byte(`{"sleep":"10s"}`))
		if !errors.Is(err, standin.ErrFunctionTimeout) {
			t.Fatalf("Invoke: got %v, want ErrFunctionTimeout", err)
		}
		// Lambda starts a new execution environment after a timeout.
		got, err := rie.Invoke(ctx, []byte(`{"after":"timeout"}`))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != `{"after":"timeout"}` {
			t.Errorf("Invoke after timeout: got %s, want the event", got)
		}
	})

	if logs := rie.Logs(); !strings.Contains(logs, "REPORT RequestId") {
		t.Errorf("RIE logs: got no REPORT line in:\n%s", logs)
	}
}

// TestRIEParallel: two RIEs at once do not share ports.
func TestRIEParallel(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	boot := standin.BuildBootstrap(t, echoPkg)
	a := standin.StartRIE(t, boot, nil)
	b := standin.StartRIE(t, boot, nil)
	if a.Endpoint() == b.Endpoint() {
		t.Fatalf("endpoints: both %s", a.Endpoint())
	}
	for _, r := range []*standin.RIE{a, b} {
		got, err := r.Invoke(ctx, []byte(`[1,2]`))
		if err != nil {
			t.Fatal(err)
		}
		var v []int
		if err := json.Unmarshal(got, &v); err != nil || len(v) != 2 {
			t.Errorf("Invoke: got %s, want [1,2]", got)
		}
	}
}

// TestRIERecycle: a recycled RIE serves from a new execution environment
// (the handler's initialization runs again), with the same environment.
func TestRIERecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	boot := standin.BuildBootstrap(t, echoPkg)
	rie := standin.StartRIE(t, boot, []string{"ECHO_VAR=kept"})
	instance := func() string {
		t.Helper()
		got, err := rie.Invoke(ctx, []byte(`{"instance":true}`))
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	first := instance()
	if again := instance(); again != first {
		t.Fatalf("warm invoke: got %s, want the same environment %s", again, first)
	}
	if err := rie.Recycle(ctx); err != nil {
		t.Fatal(err)
	}
	if after := instance(); after == first {
		t.Errorf("after Recycle: got the same environment %s, want a new one", after)
	}
	got, err := rie.Invoke(ctx, []byte(`{"env":"ECHO_VAR"}`))
	if err != nil || string(got) != `{"ECHO_VAR":"kept"}` {
		t.Errorf("env after Recycle: got %s, %v, want kept", got, err)
	}
}
