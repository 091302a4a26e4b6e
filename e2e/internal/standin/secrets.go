package standin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// SecretsManager answers GetSecretValue in the service's JSON protocol:
// there is no local Secrets Manager to start, and ingest needs one call.
type SecretsManager struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]string // by name
	calls   int
	failing bool
}

// StartSecretsManager serves secrets (name -> SecretString) on 127.0.0.1.
// A request may name a secret by its name or by any ARN ending in
// ":secret:<name>" with or without the random suffix.
func StartSecretsManager(t T, secrets map[string]string) *SecretsManager {
	t.Helper()
	sm := &SecretsManager{secrets: map[string]string{}}
	for k, v := range secrets {
		sm.secrets[k] = v
	}
	sm.srv = httptest.NewServer(http.HandlerFunc(sm.serve))
	t.Cleanup(sm.srv.Close)
	return sm
}

// Endpoint returns the base URL.
func (sm *SecretsManager) Endpoint() string { return sm.srv.URL }

// Env returns AWS_ENDPOINT_URL_SECRETS_MANAGER for a child process.
func (sm *SecretsManager) Env() []string {
	return []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + sm.Endpoint()}
}

// Put sets (or replaces) a secret's value.
func (sm *SecretsManager) Put(name, value string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.secrets[name] = value
}

// Fail makes every GetSecretValue answer 500 InternalServiceError while on
// is true: a Secrets Manager outage in the region. Calls counts them too.
func (sm *SecretsManager) Fail(on bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.failing = on
}

// Calls counts GetSecretValue requests served.
func (sm *SecretsManager) Calls() int {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.calls
}

func (sm *SecretsManager) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"InvalidRequestException","message":"standin: only GetSecretValue"}`)
		return
	}
	var in struct{ SecretId string }
	if err := json.Unmarshal(body, &in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"InvalidParameterException","message":"bad JSON"}`)
		return
	}
	sm.mu.Lock()
	sm.calls++
	failing := sm.failing
	name, value, ok := sm.lookup(in.SecretId)
	sm.mu.Unlock()
	if failing {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"__type":"InternalServiceError","message":"standin: failing on purpose"}`)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-AbCdEf",
		"Name": name, "SecretString": value, "VersionId": "standin", "VersionStages": []string{"AWSCURRENT"}})
}

func (sm *SecretsManager) lookup(id string) (string, string, bool) {
	name := id
	if _, after, ok := strings.Cut(id, ":secret:"); ok {
		name = after
	}
	if v, ok := sm.secrets[name]; ok {
		return name, v, true
	}
	// An ARN carries a 6-character random suffix after the name.
	if i := strings.LastIndex(name, "-"); i > 0 && len(name)-i == 7 {
		if v, ok := sm.secrets[name[:i]]; ok {
			return name[:i], v, true
		}
	}
	return "", "", false
}
