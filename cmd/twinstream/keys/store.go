package keys

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// Secrets is the part of the Secrets Manager client used here.
type Secrets interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// ErrConflict is returned (wrapped) when the secret kept changing under
// Update for all its attempts.
var ErrConflict = errors.New("the secret changed while it was being updated")

// Store reads and writes the secret in its primary region.
type Store struct {
	// Secrets returns the client for a region.
	Secrets func(region string) Secrets
	// Regions are the pipeline's regions, where the secret or a replica
	// is; the primary is found from any of them.
	Regions []string
	// SecretID is the secret's name or ARN.
	SecretID string
	// Timeout bounds each call (default 10s).
	Timeout time.Duration
	// Attempts bounds Update's read-modify-write rounds (default 5).
	Attempts int
}

// Info is where the secret lives and its replicas' state.
type Info struct {
	Name     string    `json:"secret"`
	ARN      string    `json:"arn"`
	Primary  string    `json:"primaryRegion"`
	Replicas []Replica `json:"replicas"`
	// Version is the AWSCURRENT version id.
	Version string `json:"version"`
}

// Replica is a replica's region and replication status (InSync, Failed,
// InProgress).
type Replica struct {
	Region  string `json:"region"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	t := s.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return context.WithTimeout(ctx, t)
}

// Describe finds the secret's primary region (DescribeSecret in the first
// region that answers: a replica names its primary).
func (s *Store) Describe(ctx context.Context) (Info, error) {
	var errs []error
	for _, region := range s.Regions {
		info, err := s.describe(ctx, region)
		if err == nil {
			if info.Primary != region {
				// The primary's view has the replicas' status.
				if p, err := s.describe(ctx, info.Primary); err == nil {
					return p, nil
				}
			}
			return info, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", region, err))
	}
	return Info{}, fmt.Errorf("find the api keys secret %s: %w", s.SecretID, errors.Join(errs...))
}

func (s *Store) describe(ctx context.Context, region string) (Info, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	out, err := s.Secrets(region).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.SecretID)})
	if err != nil {
		return Info{}, fmt.Errorf("describe secret: %w", err)
	}
	info := Info{Name: aws.ToString(out.Name), ARN: aws.ToString(out.ARN), Primary: aws.ToString(out.PrimaryRegion)}
	if info.Primary == "" {
		info.Primary = region
	}
	for _, r := range out.ReplicationStatus {
		info.Replicas = append(info.Replicas, Replica{Region: aws.ToString(r.Region), Status: string(r.Status), Message: aws.ToString(r.StatusMessage)})
	}
	for id, stages := range out.VersionIdsToStages {
		if slices.Contains(stages, "AWSCURRENT") {
			info.Version = id
		}
	}
	return info, nil
}

// stages returns the versions holding AWSCURRENT and AWSPREVIOUS.
func (s *Store) stages(ctx context.Context, region string) (current, previous string, err error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	out, err := s.Secrets(region).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.SecretID)})
	if err != nil {
		return "", "", fmt.Errorf("describe secret %s in %s: %w", s.SecretID, region, err)
	}
	for id, st := range out.VersionIdsToStages {
		if slices.Contains(st, "AWSCURRENT") {
			current = id
		}
		if slices.Contains(st, "AWSPREVIOUS") {
			previous = id
		}
	}
	return current, previous, nil
}

// get reads a version (AWSCURRENT when versionID is empty).
func (s *Store) get(ctx context.Context, region, versionID string) (value, version string, err error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.SecretID)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := s.Secrets(region).GetSecretValue(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("get secret %s in %s: %w", s.SecretID, region, err)
	}
	if out.SecretString == nil {
		return "", "", fmt.Errorf("secret %s in %s has no SecretString", s.SecretID, region)
	}
	return *out.SecretString, aws.ToString(out.VersionId), nil
}

// Read returns the key set as the primary region holds it.
func (s *Store) Read(ctx context.Context) (*Set, Info, error) {
	info, err := s.Describe(ctx)
	if err != nil {
		return nil, info, err
	}
	value, version, err := s.get(ctx, info.Primary, "")
	if err != nil {
		return nil, info, err
	}
	info.Version = version
	set, err := Parse(value)
	if err != nil {
		return nil, info, fmt.Errorf("secret %s in %s: %w", s.SecretID, info.Primary, err)
	}
	return set, info, nil
}

// Result is what Update did.
type Result struct {
	Info
	// Changed is false when change had nothing to do.
	Changed bool
	// Attempts counts the read-modify-write rounds: more than one means
	// another change was made at the same time, and kept.
	Attempts int
}

// Update applies change to the key set in the primary region, so that
// concurrent updates never lose one another:
//
//   - it reads the current version V and writes the changed set as a new
//     version whose id (ClientRequestToken) is derived from V. Two
//     operators who both read V ask for the same version id: Secrets
//     Manager takes the first and refuses the second (ResourceExistsException,
//     "you can't modify an existing version"), whose Update reads the new
//     version and applies its change again;
//   - a writer that does not derive its version id (the console, the AWS
//     CLI) is caught afterwards: when the version AWSPREVIOUS lands on is not
//     V, someone wrote in between, and change is applied again on top of
//     that version's value.
//
// change must be idempotent (applied to a set that already has its effect,
// it reports no change). The set it leaves must pass Validate.
func (s *Store) Update(ctx context.Context, change func(*Set) (bool, error)) (*Set, Result, error) {
	info, err := s.Describe(ctx)
	if err != nil {
		return nil, Result{Info: info}, err
	}
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	res := Result{Info: info}
	value, base, err := s.get(ctx, info.Primary, "")
	if err != nil {
		return nil, res, err
	}
	for res.Attempts < attempts {
		res.Attempts++
		set, err := Parse(value)
		if err != nil {
			return nil, res, fmt.Errorf("secret %s in %s: %w; fix it by hand first", s.SecretID, info.Primary, err)
		}
		changed, err := change(set)
		if err != nil {
			return nil, res, err
		}
		if !changed {
			res.Version = base
			return set, res, nil
		}
		if err := set.Validate(); err != nil {
			return nil, res, fmt.Errorf("refusing to write a key set ingest would reject: %w", err)
		}
		body, err := set.Marshal()
		if err != nil {
			return nil, res, err
		}
		token := VersionAfter(s.SecretID, base)
		cctx, cancel := s.call(ctx)
		_, err = s.Secrets(info.Primary).PutSecretValue(cctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(s.SecretID), SecretString: aws.String(string(body)), ClientRequestToken: aws.String(token)})
		cancel()
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ResourceExistsException" {
			// Another update read the same version and wrote first.
			if value, base, err = s.get(ctx, info.Primary, ""); err != nil {
				return nil, res, err
			}
			continue
		}
		if err != nil {
			return nil, res, fmt.Errorf("put secret %s in %s: %w", s.SecretID, info.Primary, err)
		}
		current, previous, err := s.stages(ctx, info.Primary)
		if err != nil {
			return nil, res, err
		}
		if current != token || previous == base || previous == "" {
			// Ours is current over the version we read, or a later
			// change (made on top of ours) is.
			res.Changed, res.Version = true, token
			return set, res, nil
		}
		// Someone wrote version previous between our read and our write,
		// without a version check: ours replaced it. Apply the change
		// again on top of it.
		if value, _, err = s.get(ctx, info.Primary, previous); err != nil {
			return nil, res, err
		}
		base = token
	}
	return nil, res, fmt.Errorf("%w: %d attempts, each time another change came first; run the command again", ErrConflict, attempts)
}

// VersionAfter is the version id an update of the version base writes:
// derived from the secret and base, so that two updates of the same
// version ask for the same id and only the first gets it. UUID-shaped, as
// Secrets Manager recommends (32-64 characters).
func VersionAfter(secret, base string) string {
	h := sha256.Sum256([]byte("twinstream keys\x00" + secret + "\x00" + base))
	x := fmt.Sprintf("%x", h[:16])
	return strings.Join([]string{x[0:8], x[8:12], x[12:16], x[16:20], x[20:32]}, "-")
}
