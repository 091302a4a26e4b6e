// Package keys edits the API-key secret ingest reads: {"keys":[{"id":
// "team-a","sha256":"<hex>"}]}. Keys are generated here and printed once;
// only their SHA-256 is stored. The rules are ingest's (lambdas/ingest/ingest
// keys.go): every id is 1-256 bytes of UTF-8 without control characters,
// every sha256 is 64 hex characters, one id may have several hashes (a
// rotation), one hash never two ids; a set breaking them is refused, since
// ingest would reject the whole set.
package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// KeyPrefix starts every generated key, so a leaked one is recognizable
// (secret scanners, logs).
const KeyPrefix = "tsk_"

// Set is the secret's document. Fields other than keys, and fields of a key
// other than id, sha256 and added, are kept as they are.
type Set struct {
	Keys  []Key
	extra map[string]json.RawMessage
}

// Key is one accepted key: the producer id and the SHA-256 of the key.
// Added is when `twinstream keys add` added it (RFC 3339), if it did.
type Key struct {
	ID     string
	SHA256 string
	Added  string
	extra  map[string]json.RawMessage
}

// Parse reads a secret value.
func Parse(value string) (*Set, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &doc); err != nil {
		return nil, fmt.Errorf("api keys secret is not a JSON object: %w", err)
	}
	raw, ok := doc["keys"]
	if !ok {
		return nil, errors.New(`api keys secret has no "keys" array`)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf(`api keys secret: "keys" is not an array of objects: %w`, err)
	}
	delete(doc, "keys")
	s := &Set{extra: doc}
	for i, m := range list {
		k := Key{extra: map[string]json.RawMessage{}}
		for name, v := range m {
			var dst *string
			switch name {
			case "id":
				dst = &k.ID
			case "sha256":
				dst = &k.SHA256
			case "added":
				dst = &k.Added
			default:
				k.extra[name] = v
				continue
			}
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("api keys secret: key %d: %s is not a string", i, name)
			}
		}
		s.Keys = append(s.Keys, k)
	}
	return s, nil
}

// Marshal writes the document: keys as {"id","sha256","added",...}.
func (s *Set) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	for i, k := range s.Keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fields := map[string]any{"id": k.ID, "sha256": k.SHA256}
		if k.Added != "" {
			fields["added"] = k.Added
		}
		for name, v := range k.extra {
			fields[name] = v
		}
		if err := writeObject(&b, fields, []string{"id", "sha256", "added"}); err != nil {
			return nil, err
		}
	}
	b.WriteByte(']')
	for _, name := range sortedNames(s.extra) {
		b.WriteByte(',')
		n, _ := json.Marshal(name)
		b.Write(n)
		b.WriteByte(':')
		b.Write(s.extra[name])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeObject writes fields with the names in first first, then the rest
// sorted.
func writeObject(b *bytes.Buffer, fields map[string]any, first []string) error {
	var names []string
	for _, n := range first {
		if _, ok := fields[n]; ok {
			names = append(names, n)
		}
	}
	rest := make(map[string]json.RawMessage)
	for n := range fields {
		if !contains(first, n) {
			rest[n] = nil
		}
	}
	names = append(names, sortedNames(rest)...)
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(n)
		v, err := json.Marshal(fields[n])
		if err != nil {
			return err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return nil
}

// Validate applies ingest's rules to the whole set.
func (s *Set) Validate() error {
	owner := map[[sha256.Size]byte]int{}
	for i, k := range s.Keys {
		if err := ValidID(k.ID); err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		h, err := hash(k.SHA256)
		if err != nil {
			return fmt.Errorf("key %d (%s): %w", i, k.ID, err)
		}
		if j, ok := owner[h]; ok && s.Keys[j].ID != k.ID {
			return fmt.Errorf("key %d (%s) has the sha256 of key %d (%s): a key must name one producer", i, k.ID, j, s.Keys[j].ID)
		}
		owner[h] = i
	}
	return nil
}

// ValidID checks a producer id as ingest does (record.ValidID): 1-256 bytes
// of UTF-8 without control characters.
func ValidID(id string) error {
	if len(id) == 0 || len(id) > 256 || !utf8.ValidString(id) {
		return fmt.Errorf("id %q: want 1-256 bytes of UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("id %q: control characters are not allowed", id)
		}
	}
	return nil
}

func hash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return h, errors.New("sha256 must be 64 hex characters")
	}
	copy(h[:], b)
	return h, nil
}

// Add adds hash under id (a new producer, or a rotation for an existing
// one). Adding a hash id already has changes nothing (false); a hash
// another id has is an error.
func (s *Set) Add(id, sha string, now time.Time) (bool, error) {
	if err := ValidID(id); err != nil {
		return false, err
	}
	h, err := hash(sha)
	if err != nil {
		return false, err
	}
	for _, k := range s.Keys {
		if kh, err := hash(k.SHA256); err == nil && kh == h {
			if k.ID == id {
				return false, nil
			}
			return false, fmt.Errorf("that sha256 already belongs to %s: a key must name one producer", k.ID)
		}
	}
	s.Keys = append(s.Keys, Key{ID: id, SHA256: strings.ToLower(sha), Added: now.UTC().Format(time.RFC3339), extra: map[string]json.RawMessage{}})
	return true, nil
}

// Revoke removes id's keys: all of them, or, with a prefix, the one whose
// sha256 starts with it. It returns what it removed; an id without keys,
// or a prefix matching none or several of them, is an error.
func (s *Set) Revoke(id, prefix string) ([]Key, error) {
	var mine []Key
	for _, k := range s.Keys {
		if k.ID == id {
			mine = append(mine, k)
		}
	}
	if len(mine) == 0 {
		return nil, fmt.Errorf("no key is named %q (ids: %s)", id, strings.Join(s.IDs(), ", "))
	}
	prefix = strings.ToLower(prefix)
	var gone []Key
	for _, k := range mine {
		if strings.HasPrefix(strings.ToLower(k.SHA256), prefix) {
			gone = append(gone, k)
		}
	}
	if prefix != "" && len(gone) != 1 {
		var hashes []string
		for _, k := range mine {
			hashes = append(hashes, Short(k.SHA256))
		}
		what := "none"
		if len(gone) > 1 {
			what = fmt.Sprintf("%d", len(gone))
		}
		return nil, fmt.Errorf("sha256 prefix %q matches %s of %s's keys (%s): give one that matches exactly one", prefix, what, id, strings.Join(hashes, ", "))
	}
	kept := s.Keys[:0]
	for _, k := range s.Keys {
		if !(k.ID == id && strings.HasPrefix(strings.ToLower(k.SHA256), prefix)) {
			kept = append(kept, k)
		}
	}
	s.Keys = kept
	return gone, nil
}

// IDs lists the ids, sorted, each once.
func (s *Set) IDs() []string {
	seen := map[string]json.RawMessage{}
	for _, k := range s.Keys {
		seen[k.ID] = nil
	}
	return sortedNames(seen)
}

// Count is how many keys id has.
func (s *Set) Count(id string) int {
	n := 0
	for _, k := range s.Keys {
		if k.ID == id {
			n++
		}
	}
	return n
}

// New generates a key (32 random bytes, base64url, after KeyPrefix) and
// its SHA-256 in hex, the form the secret holds.
func New() (key, sha string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(key))
	return key, hex.EncodeToString(sum[:]), nil
}

// Short is the first 16 hex characters of a sha256, enough to tell keys
// apart in a listing and to revoke one by prefix.
func Short(sha string) string {
	if len(sha) > 16 {
		return sha[:16]
	}
	return sha
}

func sortedNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
