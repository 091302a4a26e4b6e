package keys_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/cmd/twinstream/awsfake"
	"github.com/twinstream/twinstream/cmd/twinstream/keys"
)

const secret = "twinstream/api-keys"

// newStore returns a Store on a fake secret in us-east-1 replicated to
// us-west-2, looked for in the replica first.
func newStore(t *testing.T, value string) (*keys.Store, *awsfake.SecretsManager) {
	t.Helper()
	sm := awsfake.NewSecretsManager(t)
	sm.Create(secret, "us-east-1", []string{"us-west-2"}, value)
	return &keys.Store{
		Regions:  []string{"us-west-2", "us-east-1"},
		SecretID: secret,
		Secrets: func(region string) keys.Secrets {
			return secretsmanager.NewFromConfig(awsfake.Config(region), func(o *secretsmanager.Options) {
				o.BaseEndpoint = aws.String(sm.URL())
			})
		},
	}, sm
}

func add(id, hash string) func(*keys.Set) (bool, error) {
	return func(s *keys.Set) (bool, error) { return s.Add(id, hash, now) }
}

func revoke(id, prefix string) func(*keys.Set) (bool, error) {
	return func(s *keys.Set) (bool, error) {
		_, err := s.Revoke(id, prefix)
		return err == nil, err
	}
}

func current(t *testing.T, sm *awsfake.SecretsManager) *keys.Set {
	t.Helper()
	v, _ := sm.Value(secret)
	s, err := keys.Parse(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("the secret holds a set ingest rejects: %v", err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	st, sm := newStore(t, `{"keys":[]}`)
	ctx := t.Context()
	steps := []struct {
		name   string
		change func(*keys.Set) (bool, error)
		want   map[string]int // keys per id afterwards
	}{
		{"add team-a", add("team-a", sha("a1")), map[string]int{"team-a": 1}},
		{"add team-b", add("team-b", sha("b1")), map[string]int{"team-a": 1, "team-b": 1}},
		{"rotate team-a", add("team-a", sha("a2")), map[string]int{"team-a": 2, "team-b": 1}},
		{"revoke team-a's old key", revoke("team-a", sha("a1")[:10]), map[string]int{"team-a": 1, "team-b": 1}},
		{"revoke team-b", revoke("team-b", ""), map[string]int{"team-a": 1}},
	}
	for _, step := range steps {
		_, res, err := st.Update(ctx, step.change)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !res.Changed || res.Attempts != 1 || res.Primary != "us-east-1" {
			t.Errorf("%s: got %+v, want one changing attempt in us-east-1", step.name, res)
		}
		s := current(t, sm)
		for id, n := range step.want {
			if s.Count(id) != n {
				t.Errorf("%s: %s has %d keys, want %d", step.name, id, s.Count(id), n)
			}
		}
		if len(s.Keys) != sumOf(step.want) {
			t.Errorf("%s: got %d keys, want %d", step.name, len(s.Keys), sumOf(step.want))
		}
	}
	set, info, err := st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].SHA256 != sha("a2") || info.Primary != "us-east-1" ||
		len(info.Replicas) != 1 || info.Replicas[0].Region != "us-west-2" || info.Replicas[0].Status != "InSync" {
		t.Errorf("Read: got %+v and %+v", set.Keys, info)
	}
	// Writes went to the primary region only (the fake refuses replica
	// writes, as Secrets Manager does).
	for _, c := range sm.Calls() {
		if c.Operation == "PutSecretValue" && c.Region != "us-east-1" {
			t.Errorf("PutSecretValue in %s, want us-east-1", c.Region)
		}
	}
	// An update with nothing to do writes nothing.
	before := sm.Versions(secret)
	if _, res, err := st.Update(ctx, add("team-a", sha("a2"))); err != nil || res.Changed {
		t.Errorf("adding a key that is there: got %+v, %v; want no change", res, err)
	}
	if sm.Versions(secret) != before {
		t.Errorf("a no-op update wrote a version")
	}
}

func sumOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestConcurrentUpdates(t *testing.T) {
	t.Run("two operators with the command", func(t *testing.T) {
		st, sm := newStore(t, `{"keys":[]}`)
		other, _ := newStore(t, "")
		other.Secrets = st.Secrets
		// Right before our write, another operator's update (which read the
		// same version) lands.
		sm.BeforePut = func() {
			sm.BeforePut = nil
			if _, _, err := other.Update(context.Background(), add("team-b", sha("b1"))); err != nil {
				t.Errorf("the other operator's update: %v", err)
			}
		}
		_, res, err := st.Update(t.Context(), add("team-a", sha("a1")))
		if err != nil {
			t.Fatal(err)
		}
		s := current(t, sm)
		if s.Count("team-a") != 1 || s.Count("team-b") != 1 {
			t.Errorf("got %+v, want both operators' keys", s.Keys)
		}
		if res.Attempts != 2 {
			t.Errorf("got %d attempts, want 2 (the first refused)", res.Attempts)
		}
		// Refused, our first write never became a version: no current
		// version ever lacked the other operator's key.
		if n := sm.Versions(secret); n != 3 {
			t.Errorf("got %d versions, want 3 (the first, the other operator's, ours)", n)
		}
	})
	t.Run("a write by another tool in between", func(t *testing.T) {
		st, sm := newStore(t, `{"keys":[]}`)
		sm.BeforePut = func() {
			sm.BeforePut = nil
			sm.Write(secret, `{"keys":[{"id":"console","sha256":"`+sha("c1")+`"}]}`)
		}
		_, res, err := st.Update(t.Context(), add("team-a", sha("a1")))
		if err != nil {
			t.Fatal(err)
		}
		s := current(t, sm)
		if s.Count("team-a") != 1 || s.Count("console") != 1 {
			t.Errorf("got %+v, want the console's key kept with ours", s.Keys)
		}
		if res.Attempts != 2 {
			t.Errorf("got %d attempts, want 2", res.Attempts)
		}
	})
	t.Run("conflicts every time", func(t *testing.T) {
		st, sm := newStore(t, `{"keys":[]}`)
		other, _ := newStore(t, "")
		other.Secrets = st.Secrets
		n := 0
		sm.BeforePut = func() {
			hook := sm.BeforePut
			sm.BeforePut = nil
			n++
			if _, _, err := other.Update(context.Background(), add("team-"+string(rune('a'+n)), sha(string(rune('a'+n))))); err != nil {
				t.Errorf("other: %v", err)
			}
			sm.BeforePut = hook
		}
		st.Attempts = 3
		_, _, err := st.Update(t.Context(), add("team-z", sha("z")))
		if !errors.Is(err, keys.ErrConflict) || !strings.Contains(err.Error(), "run the command again") {
			t.Errorf("got %v, want ErrConflict", err)
		}
		sm.BeforePut = nil
		if s := current(t, sm); s.Count("team-z") != 0 || len(s.Keys) != 3 {
			t.Errorf("got %+v, want the three other keys and not ours", s.Keys)
		}
	})
}

func TestUpdateErrors(t *testing.T) {
	t.Run("a set ingest would reject is not written", func(t *testing.T) {
		st, sm := newStore(t, `{"keys":[{"id":"old","sha256":"not-hex"}]}`)
		_, _, err := st.Update(t.Context(), add("team-a", sha("a1")))
		if err == nil || !strings.Contains(err.Error(), "refusing to write a key set ingest would reject: key 0 (old): sha256 must be 64 hex characters") {
			t.Errorf("got %v", err)
		}
		// Revoking the bad entry makes the set valid again.
		if _, _, err := st.Update(t.Context(), revoke("old", "")); err != nil {
			t.Fatal(err)
		}
		if s := current(t, sm); len(s.Keys) != 0 {
			t.Errorf("got %+v, want no key", s.Keys)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		st, _ := newStore(t, `keys: none`)
		if _, _, err := st.Update(t.Context(), add("team-a", sha("a1"))); err == nil || !strings.Contains(err.Error(), "fix it by hand first") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no such secret", func(t *testing.T) {
		st, _ := newStore(t, `{"keys":[]}`)
		st.SecretID = "orders/api-keys"
		_, _, err := st.Update(t.Context(), add("team-a", sha("a1")))
		if err == nil || !strings.Contains(err.Error(), "find the api keys secret orders/api-keys") ||
			!strings.Contains(err.Error(), "us-west-2: describe secret") || !strings.Contains(err.Error(), "ResourceNotFoundException") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("put denied", func(t *testing.T) {
		st, sm := newStore(t, `{"keys":[]}`)
		sm.Fail("PutSecretValue", &awsfake.APIError{Code: "AccessDeniedException", Message: "not authorized to perform secretsmanager:PutSecretValue"})
		if _, _, err := st.Update(t.Context(), add("team-a", sha("a1"))); err == nil || !strings.Contains(err.Error(), "put secret twinstream/api-keys in us-east-1") || !strings.Contains(err.Error(), "AccessDeniedException") {
			t.Errorf("got %v", err)
		}
	})
}

func TestVersionAfter(t *testing.T) {
	a, b := keys.VersionAfter(secret, "v1"), keys.VersionAfter(secret, "v2")
	if a == b || a != keys.VersionAfter(secret, "v1") || len(a) != 36 {
		t.Errorf("got %q and %q, want two different stable 36-character ids", a, b)
	}
}
