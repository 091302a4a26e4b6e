package keys_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/twinstream/twinstream/cmd/twinstream/keys"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestParseMarshalKeepsOtherFields(t *testing.T) {
	in := `{"keys":[{"id":"team-a","sha256":"` + sha("a") + `","note":"billing"}],"comment":{"owner":"ops"}}`
	s, err := keys.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add("team-b", sha("b"), now); err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keys":[{"id":"team-a","sha256":"` + sha("a") + `","note":"billing"},{"id":"team-b","sha256":"` + sha("b") + `","added":"2026-12-01T10:00:00Z"}],"comment":{"owner":"ops"}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`not json`, "not a JSON object"},
		{`{}`, `no "keys" array`},
		{`{"keys":{}}`, `"keys" is not an array`},
		{`{"keys":[{"id":5}]}`, "key 0: id is not a string"},
	} {
		if _, err := keys.Parse(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s): got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", `{"keys":[]}`, ""},
		{"one id, two hashes (a rotation)", `{"keys":[{"id":"a","sha256":"` + sha("1") + `"},{"id":"a","sha256":"` + sha("2") + `"}]}`, ""},
		{"one hash, two ids", `{"keys":[{"id":"a","sha256":"` + sha("1") + `"},{"id":"b","sha256":"` + strings.ToUpper(sha("1")) + `"}]}`, "key 1 (b) has the sha256 of key 0 (a)"},
		{"short hash", `{"keys":[{"id":"a","sha256":"abcd"}]}`, "key 0 (a): sha256 must be 64 hex characters"},
		{"empty id", `{"keys":[{"id":"","sha256":"` + sha("1") + `"}]}`, "key 0: id \"\": want 1-256 bytes"},
		{"control character", `{"keys":[{"id":"a\u0007","sha256":"` + sha("1") + `"}]}`, "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	s, _ := keys.Parse(`{"keys":[{"id":"team-a","sha256":"` + sha("a1") + `"}]}`)
	for _, tc := range []struct {
		name, id, hash string
		changed        bool
		err            string
	}{
		{"new producer", "team-b", sha("b1"), true, ""},
		{"rotation: a second key for team-a", "team-a", sha("a2"), true, ""},
		{"the same key again changes nothing", "team-a", strings.ToUpper(sha("a2")), false, ""},
		{"another producer's key", "team-c", sha("a1"), false, "already belongs to team-a"},
		{"bad id", "", sha("x"), false, "want 1-256 bytes"},
		{"bad hash", "team-d", "xyz", false, "64 hex characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := s.Add(tc.id, tc.hash, now)
			if changed != tc.changed || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %v, %v; want %v, %q", changed, err, tc.changed, tc.err)
			}
		})
	}
	if s.Count("team-a") != 2 || s.Count("team-b") != 1 || len(s.Keys) != 3 {
		t.Errorf("got keys %+v, want team-a twice and team-b once", s.Keys)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestRevoke(t *testing.T) {
	base := `{"keys":[{"id":"team-a","sha256":"` + sha("a1") + `"},{"id":"team-a","sha256":"` + sha("a2") + `"},{"id":"team-b","sha256":"` + sha("b1") + `"}]}`
	for _, tc := range []struct {
		name, id, prefix string
		gone             int
		left             []string
		err              string
	}{
		{"all of an id's keys", "team-a", "", 2, []string{"team-b"}, ""},
		{"one by prefix", "team-a", sha("a2")[:8], 1, []string{"team-a", "team-b"}, ""},
		{"prefix of another id's key", "team-a", sha("b1")[:8], 0, nil, "matches none of team-a's keys"},
		{"unknown id", "team-z", "", 0, nil, `no key is named "team-z" (ids: team-a, team-b)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := keys.Parse(base)
			gone, err := s.Revoke(tc.id, tc.prefix)
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
			if err != nil {
				return
			}
			if len(gone) != tc.gone || strings.Join(s.IDs(), ",") != strings.Join(tc.left, ",") {
				t.Errorf("got %d gone and ids %v, want %d and %v", len(gone), s.IDs(), tc.gone, tc.left)
			}
		})
	}
	s, _ := keys.Parse(`{"keys":[{"id":"a","sha256":"ab` + sha("1")[2:] + `"},{"id":"a","sha256":"ab` + sha("2")[2:] + `"}]}`)
	if _, err := s.Revoke("a", "ab"); err == nil || !strings.Contains(err.Error(), "matches 2 of a's keys") {
		t.Errorf("ambiguous prefix: got %v", err)
	}
}

func TestNew(t *testing.T) {
	k1, h1, err := keys.New()
	if err != nil {
		t.Fatal(err)
	}
	k2, _, _ := keys.New()
	if !strings.HasPrefix(k1, keys.KeyPrefix) || len(k1) != len(keys.KeyPrefix)+43 || k1 == k2 {
		t.Errorf("got keys %q and %q, want two different tsk_ + 43 base64url characters", k1, k2)
	}
	if h1 != sha(k1) {
		t.Errorf("got hash %s, want the SHA-256 of the key %s", h1, sha(k1))
	}
	if strings.ContainsAny(k1, " \t+/=") {
		t.Errorf("key %q has characters a Bearer header or a shell would mangle", k1)
	}
}
