package awsfake

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// SecretsManager fakes DescribeSecret, GetSecretValue and PutSecretValue
// (JSON 1.1) for secrets replicated from a primary region, with versions
// and the AWSCURRENT and AWSPREVIOUS staging labels. PutSecretValue follows
// the documented ClientRequestToken rules: a new token makes a new version
// (AWSCURRENT moves to it, AWSPREVIOUS to the version that had it), a known
// token with the same value is ignored, a known token with another value
// fails with ResourceExistsException. Replicas follow at once, and a write
// to a replica fails as it does in AWS.
type SecretsManager struct {
	server
	// BeforePut, when set, runs before each PutSecretValue is applied
	// (without the fake's lock held): a test makes a concurrent change there.
	BeforePut func()

	secrets map[string]*secret
}

type secret struct {
	name, primary string
	replicas      []string
	versions      map[string]*version
	order         []string // version ids, oldest first
}

type version struct {
	value  string
	stages []string
}

const smType = "application/x-amz-json-1.1"

// NewSecretsManager starts a Secrets Manager fake with no secrets.
func NewSecretsManager(t T) *SecretsManager {
	t.Helper()
	sm := &SecretsManager{secrets: map[string]*secret{}}
	sm.start(t, sm.serve)
	return sm
}

// Create makes a secret in primary, replicated to replicas, with a first
// version holding value.
func (sm *SecretsManager) Create(name, primary string, replicas []string, value string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	s := &secret{name: name, primary: primary, replicas: replicas, versions: map[string]*version{}}
	s.put(newVersionID(), value)
	sm.secrets[name] = s
}

// Write puts a new version as another tool would (console, aws CLI): a
// random version id, no version check.
func (sm *SecretsManager) Write(name, value string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.secrets[name].put(newVersionID(), value)
}

// Value returns the AWSCURRENT value and version id.
func (sm *SecretsManager) Value(name string) (value, versionID string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	s := sm.secrets[name]
	id := s.current()
	return s.versions[id].value, id
}

// Versions returns how many versions a secret has.
func (sm *SecretsManager) Versions(name string) int {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return len(sm.secrets[name].versions)
}

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// put adds a version and moves AWSCURRENT to it, AWSPREVIOUS to the former
// current version.
func (s *secret) put(id, value string) {
	cur := s.current()
	for _, v := range s.versions {
		v.stages = slices.DeleteFunc(v.stages, func(st string) bool { return st == "AWSPREVIOUS" })
	}
	if cur != "" {
		old := s.versions[cur]
		old.stages = slices.DeleteFunc(old.stages, func(st string) bool { return st == "AWSCURRENT" })
		old.stages = append(old.stages, "AWSPREVIOUS")
	}
	s.versions[id] = &version{value: value, stages: []string{"AWSCURRENT"}}
	s.order = append(s.order, id)
}

func (s *secret) current() string {
	return s.stage("AWSCURRENT")
}

func (s *secret) stage(st string) string {
	for id, v := range s.versions {
		if slices.Contains(v.stages, st) {
			return id
		}
	}
	return ""
}

func (s *secret) arn(region string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:123456789012:secret:%s-AbCdEf", region, s.name)
}

// lookup finds a secret by name or ARN as seen from region.
func (sm *SecretsManager) lookup(region, id string) (*secret, bool) {
	name := id
	if _, after, ok := strings.Cut(id, ":secret:"); ok {
		name = after
		if i := strings.LastIndex(name, "-"); i > 0 && len(name)-i == 7 {
			name = name[:i]
		}
	}
	s, ok := sm.secrets[name]
	if !ok || (region != s.primary && !slices.Contains(s.replicas, region)) {
		return nil, false
	}
	return s, true
}

func (sm *SecretsManager) serve(w http.ResponseWriter, r *http.Request) {
	region := signedRegion(r)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if e, ok := sm.record(region, op); ok {
		jsonError(w, smType, e)
		return
	}
	var in struct {
		SecretId, VersionId, VersionStage, ClientRequestToken string
		SecretString                                          *string
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		jsonError(w, smType, APIError{Code: "InvalidParameterException", Message: "awsfake: bad JSON: " + err.Error()})
		return
	}
	if op == "PutSecretValue" && sm.BeforePut != nil {
		sm.BeforePut()
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	s, ok := sm.lookup(region, in.SecretId)
	if !ok {
		jsonError(w, smType, APIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."})
		return
	}
	switch op {
	case "DescribeSecret":
		stages := map[string][]string{}
		for id, v := range s.versions {
			if len(v.stages) > 0 {
				stages[id] = v.stages
			}
		}
		var repl []map[string]string
		for _, rg := range s.replicas {
			repl = append(repl, map[string]string{"Region": rg, "Status": "InSync", "StatusMessage": "Replication succeeded"})
		}
		writeJSON(w, smType, 200, map[string]any{"ARN": s.arn(region), "Name": s.name, "PrimaryRegion": s.primary,
			"ReplicationStatus": repl, "VersionIdsToStages": stages})
	case "GetSecretValue":
		id := in.VersionId
		if id == "" {
			st := in.VersionStage
			if st == "" {
				st = "AWSCURRENT"
			}
			id = s.stage(st)
		}
		v, ok := s.versions[id]
		if !ok {
			jsonError(w, smType, APIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret value for VersionId or VersionStage."})
			return
		}
		writeJSON(w, smType, 200, map[string]any{"ARN": s.arn(region), "Name": s.name, "VersionId": id,
			"SecretString": v.value, "VersionStages": v.stages, "CreatedDate": 1767225600})
	case "PutSecretValue":
		if region != s.primary {
			jsonError(w, smType, APIError{Code: "InvalidRequestException", Message: "Operation not permitted on a replica secret. Call must be made in primary secret's region."})
			return
		}
		if n := len(in.ClientRequestToken); n < 32 || n > 64 {
			jsonError(w, smType, APIError{Code: "InvalidParameterException", Message: "ClientRequestToken must be 32-64 characters"})
			return
		}
		if in.SecretString == nil {
			jsonError(w, smType, APIError{Code: "InvalidParameterException", Message: "awsfake: SecretString required"})
			return
		}
		if v, ok := s.versions[in.ClientRequestToken]; ok {
			if v.value != *in.SecretString {
				jsonError(w, smType, APIError{Code: "ResourceExistsException", Message: "You can't modify an existing version, you can only create a new version."})
				return
			}
		} else {
			s.put(in.ClientRequestToken, *in.SecretString)
		}
		writeJSON(w, smType, 200, map[string]any{"ARN": s.arn(region), "Name": s.name, "VersionId": in.ClientRequestToken,
			"VersionStages": s.versions[in.ClientRequestToken].stages})
	default:
		jsonError(w, smType, APIError{Code: "InvalidRequestException", Message: "awsfake: Secrets Manager does not fake " + op})
	}
}
