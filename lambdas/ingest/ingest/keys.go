package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twinstream/twinstream/lambdas/record"
)

// GetSecretValueAPI is the part of the Secrets Manager client the handler uses.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// GetSecretValueFunc adapts a function to GetSecretValueAPI (fakes in tests).
type GetSecretValueFunc func(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)

// GetSecretValue calls f.
func (f GetSecretValueFunc) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f(ctx, in, opts...)
}

// apiKey is one accepted key: its name (logged) and the SHA-256 of its value.
type apiKey struct {
	id   string
	hash [sha256.Size]byte
}

// staleRetry is how long a stale key set is used after a failed refresh
// before the next attempt, so a Secrets Manager outage does not add a failed
// call to every request.
const staleRetry = 30 * time.Second

// keyring caches the key set from the secret. Only one fetch runs at a time.
// While it runs, other requests use the stale copy if there is one, or wait
// for it. When no key set was ever loaded and a fetch fails, the failure is
// remembered for failTTL: requests get it at once (503 with Retry-After)
// instead of each waiting out a Secrets Manager that is down.
type keyring struct {
	fetch   func(context.Context) ([]apiKey, error)
	ttl     time.Duration
	failTTL time.Duration
	now     func() time.Time

	mu          sync.Mutex
	keys        []apiKey
	loaded      bool
	expires     time.Time
	inflight    chan struct{}
	lastErr     error
	failedUntil time.Time // !loaded: no fetch before then
}

// keysUnavailable says no key set is loaded: the last fetch failed, and the
// next one is tried at retryAt.
type keysUnavailable struct {
	err     error
	retryAt time.Time
}

func (e *keysUnavailable) Error() string { return e.err.Error() }
func (e *keysUnavailable) Unwrap() error { return e.err }

// get returns the current key set, refreshing it when it has expired.
func (k *keyring) get(ctx context.Context) ([]apiKey, error) {
	k.mu.Lock()
	now := k.now()
	if k.loaded && now.Before(k.expires) {
		keys := k.keys
		k.mu.Unlock()
		return keys, nil
	}
	if !k.loaded && k.inflight == nil && k.lastErr != nil && now.Before(k.failedUntil) {
		err := &keysUnavailable{err: k.lastErr, retryAt: k.failedUntil}
		k.mu.Unlock()
		return nil, err
	}
	if ch := k.inflight; ch != nil {
		if k.loaded {
			keys := k.keys
			k.mu.Unlock()
			return keys, nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for api keys: %w", ctx.Err())
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.loaded {
			return k.keys, nil
		}
		if k.lastErr == nil {
			return nil, errors.New("api keys are not loaded")
		}
		return nil, &keysUnavailable{err: k.lastErr, retryAt: k.failedUntil}
	}
	ch := make(chan struct{})
	k.inflight = ch
	k.mu.Unlock()

	settled := false
	defer func() {
		// Waiters are released whatever fetch does, a panic included.
		if !settled {
			_, _ = k.settle(ctx, ch, nil, errors.New("api keys: refresh did not finish"))
		}
	}()
	keys, err := k.fetch(ctx)
	settled = true
	return k.settle(ctx, ch, keys, err)
}

// settle records a fetch's outcome, releases the requests waiting for it
// and returns what the fetching request gets: the new keys, the stale ones,
// or the failure.
func (k *keyring) settle(ctx context.Context, ch chan struct{}, keys []apiKey, err error) ([]apiKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inflight = nil
	close(ch)
	now := k.now()
	if err == nil {
		k.keys, k.loaded, k.expires, k.lastErr = keys, true, now.Add(k.ttl), nil
		return keys, nil
	}
	k.lastErr = err
	if k.loaded {
		k.expires = now.Add(min(k.ttl, staleRetry))
		slog.WarnContext(ctx, "api keys: refresh failed, using the cached copy", "keys", len(k.keys), "error", err)
		return k.keys, nil
	}
	k.failedUntil = now.Add(k.failTTL)
	return nil, &keysUnavailable{err: err, retryAt: k.failedUntil}
}

// match returns the id of the key whose hash equals the SHA-256 of key. It
// compares against every key in constant time, without an early exit, so
// timing does not tell which or how many keys were close.
func match(keys []apiKey, key string) (string, bool) {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range keys {
		if subtle.ConstantTimeCompare(sum[:], keys[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return keys[found].id, true
}

// secretKeys fetches and parses the secret:
// {"keys":[{"id":"team-a","sha256":"<64 hex chars>"}]}.
func secretKeys(api GetSecretValueAPI, arn string, timeout time.Duration) func(context.Context) ([]apiKey, error) {
	return func(ctx context.Context) ([]apiKey, error) {
		// Detached from the request: other requests may wait on this fetch.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("get api keys secret: %w", err)
		}
		if out == nil || out.SecretString == nil {
			return nil, errors.New("api keys secret has no SecretString")
		}
		return parseKeys([]byte(*out.SecretString))
	}
}

// parseKeys reads the key set. Any bad entry fails the whole set: a partly
// applied key list would lock out some producers without saying why.
func parseKeys(b []byte) ([]apiKey, error) {
	var doc struct {
		Keys *[]struct {
			ID     string `json:"id"`
			SHA256 string `json:"sha256"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("api keys secret is not JSON: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`api keys secret has no "keys" array`)
	}
	// One id may have several hashes (a rotation keeps the producer's
	// namespace); one hash may not have several ids: which producer would
	// its records belong to?
	owner := make(map[[sha256.Size]byte]int, len(*doc.Keys))
	keys := make([]apiKey, 0, len(*doc.Keys))
	for i, k := range *doc.Keys {
		if !record.ValidID(k.ID) {
			return nil, fmt.Errorf("api keys secret: key %d: id must be 1-256 bytes of printable UTF-8", i)
		}
		h, err := hex.DecodeString(k.SHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("api keys secret: key %d (%s): sha256 must be 64 hex characters", i, k.ID)
		}
		var ak apiKey
		ak.id = k.ID
		copy(ak.hash[:], h)
		if j, ok := owner[ak.hash]; ok && keys[j].id != ak.id {
			return nil, fmt.Errorf("api keys secret: key %d (%s) has the sha256 of key %d (%s): a key must name one producer", i, k.ID, j, keys[j].id)
		}
		owner[ak.hash] = len(keys)
		keys = append(keys, ak)
	}
	return keys, nil
}

// bearer returns the key of an "Authorization: Bearer <key>" header.
func bearer(h string) (string, bool) {
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.Trim(key, " ")
	if key == "" || strings.ContainsAny(key, " \t") {
		return "", false
	}
	return key, true
}
