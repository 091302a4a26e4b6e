// Package stacks holds twinstream's CDK constructs and stacks: NewDeployment
// (the whole multi-region deployment of one pipeline), the reusable regional
// Pipeline, the RegionalStack that fronts it with an ALB, the GlobalStack
// (Global Accelerator, Route 53, sink replication), the Go bundling of the
// handlers, and the configuration the app reads from cdk.json.
package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ContextKey is the cdk.json context key holding the Config.
const ContextKey = "twinstream"

// GlobalRegion is where the GlobalStack lives: Global Accelerator's control
// plane is in us-west-2, whatever regions the pipeline runs in.
const GlobalRegion = "us-west-2"

// Config is the app's configuration (cdk.json context "twinstream").
type Config struct {
	// Name names the pipeline: stack names ("<name>-<region>",
	// "<name>-global"), resource names, metrics. Required: lowercase
	// letters, digits and hyphens, 3-24 characters. Give each pipeline of an
	// account its own Name: CloudFormation knows stacks by name, so two apps
	// with one Name deploy the same stacks.
	Name string `json:"name"`
	// Regions are the regions the pipeline runs in, active-active: from 2
	// to MaxRegions, all different. The first is the primary: it holds the
	// API-key secret (replicated to every other region) and, with two
	// regions, the PRIMARY record of the DNS failover pair.
	Regions []string `json:"regions"`
	// Account is the AWS account id. Empty: CDK_DEFAULT_ACCOUNT when the CDK
	// CLI sets it, else the stacks are account-agnostic (synth needs no
	// credentials).
	Account string `json:"account,omitempty"`
	// Domain, when set, gives the pipeline TLS (ACM certificates validated in
	// the hosted zone) and DNS names. Without it the ALBs and the accelerator
	// listen on plain HTTP, and synth warns.
	Domain *Domain `json:"domain,omitempty"`
	// AlarmEmail, when set, is subscribed to the alarm topic of each region
	// (AWS mails a confirmation link first). Default: no subscription; the
	// alarms still publish to each region's topic.
	AlarmEmail string `json:"alarmEmail,omitempty"`
	// AvailabilityZones overrides the two AZs used per region. Default:
	// "<region>a" and "<region>b". They are named explicitly so that synth
	// never looks them up (no credentials needed, no dummy AZs).
	AvailabilityZones map[string][]string `json:"availabilityZones,omitempty"`
	// RateLimitPerIP is how many requests to /v1/records one client IP may
	// send in 5 minutes before the WAF in front of each ALB answers 429.
	// Default DefaultRateLimitPerIP; -1 turns the limit off.
	RateLimitPerIP int `json:"rateLimitPerIp,omitempty"`
	// HealthRateLimitPerIP is how many requests to /health paths one client
	// IP may send in 5 minutes before the WAF answers 429: a separate,
	// generous limit, so Route 53's health checkers always pass. Default
	// DefaultHealthRateLimitPerIP; -1 turns the limit off.
	HealthRateLimitPerIP int `json:"healthRateLimitPerIp,omitempty"`
	// IngestReservedConcurrency and HealthReservedConcurrency reserve (and
	// cap) the concurrency of the ingest and health functions in each region
	// (FunctionSettings.ReservedConcurrency of PipelineProps.Ingest and
	// Health, which win when set). Defaults DefaultIngestReservedConcurrency
	// and DefaultHealthReservedConcurrency; -1 reserves none (the function
	// shares the account's unreserved pool).
	IngestReservedConcurrency int `json:"ingestReservedConcurrency,omitempty"`
	HealthReservedConcurrency int `json:"healthReservedConcurrency,omitempty"`
	// TerminationProtection of every stack. Default true: the global stack
	// holds the accelerator whose static IPs producers use, and the regional
	// stacks the data path (their ALBs have no deletion protection of their
	// own). Set false and deploy (the CLI updates the stacks' protection)
	// before `cdk destroy`.
	TerminationProtection *bool `json:"terminationProtection,omitempty"`
}

// MaxRegions is the most regions a Config takes. Global Accelerator tries
// the three endpoint groups (regions) closest to a client and, when none of
// them has a healthy endpoint, fails open to the closest one
// (https://docs.aws.amazon.com/global-accelerator/latest/dg/about-endpoints-endpoint-weights.unhealthy-endpoints.html):
// with at most three regions every region is among a client's three
// closest, so the accelerator moves traffic to any region that is still
// healthy. A fourth region would not be a failover target for clients whose
// three closest regions had failed. (The other limits are far off: 42
// endpoint groups per accelerator, one Route 53 latency record per region,
// 1,000 S3 replication rules per bucket; each sink stores N-1 replicas.)
const MaxRegions = 3

// PlaceholderHostedZoneID is the example hosted zone of cdk.json and
// DefaultConfig: synth shows the TLS and DNS setup with it, and every stack
// that uses it carries a CloudFormation rule that refuses to deploy it (see
// placeholderDomainRule).
const PlaceholderHostedZoneID = "Z0123456789EXAMPLE0"

// DefaultRateLimitPerIP (requests per 5 minutes per client IP, about 100 a
// second) stops one runaway client; a producer that needs more sends
// bigger batches (up to 500 records a request).
const DefaultRateLimitPerIP = 30000

// DefaultHealthRateLimitPerIP (requests per 5 minutes per client IP to
// /health paths) leaves Route 53's checkers a margin of 50: each checker
// sends one request per RequestInterval (10 s) after the last answer, at most
// 30 in 5 minutes, so 50 health checks at 10 s could share one checker
// address and still pass (the app has one per region). A single address
// flooding /health/deep is cut at 5 requests a second. The ALB's own
// target-group health checks invoke the functions directly, not through the
// listener, so the WAF never sees them.
const DefaultHealthRateLimitPerIP = 1500

// RateLimit is the effective per-IP limit on /v1/records, 0 when it is off.
func (c *Config) RateLimit() int { return configLimit(c.RateLimitPerIP, DefaultRateLimitPerIP) }

// HealthRateLimit is the effective per-IP limit on /health paths, 0 when it
// is off.
func (c *Config) HealthRateLimit() int {
	return configLimit(c.HealthRateLimitPerIP, DefaultHealthRateLimitPerIP)
}

func configLimit(v, def int) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// TerminationProtected is the effective terminationProtection: true unless
// set false.
func (c *Config) TerminationProtected() bool {
	return c.TerminationProtection == nil || *c.TerminationProtection
}

// configConcurrency turns a reserved-concurrency key into the PipelineProps
// value: nil (the construct's default) when unset, else the number (-1: none).
func configConcurrency(v int) *float64 {
	if v == 0 {
		return nil
	}
	return jsii.Number(float64(v))
}

// Domain is the DNS setup: an existing Route 53 public hosted zone and the
// record name producers use.
type Domain struct {
	HostedZoneID string `json:"hostedZoneId"`
	ZoneName     string `json:"zoneName"`
	// RecordName is the producers' name, e.g. ingest.example.com: an alias to
	// the accelerator. "<region>.<RecordName>" names each region's ALB and
	// "failover.<RecordName>" the DNS failover pair.
	RecordName string `json:"recordName"`
}

// RegionalName is the name of region's ALB: "<region>.<RecordName>".
func (d *Domain) RegionalName(region string) string { return region + "." + d.RecordName }

// FailoverName is "failover.<RecordName>", the DNS path to the regions that
// does not go through the accelerator: a failover pair with two regions,
// latency records gated by health checks with more (see GlobalStack).
func (d *Domain) FailoverName() string { return "failover." + d.RecordName }

// Placeholder reports whether the hosted zone is PlaceholderHostedZoneID,
// cdk.json's example, which cannot be deployed.
func (d *Domain) Placeholder() bool { return d.HostedZoneID == PlaceholderHostedZoneID }

// DefaultConfig is the configuration cdk.json ships: the full production
// shape with an example domain, synthesizable with no AWS account.
func DefaultConfig() *Config {
	return &Config{
		Name:    "twinstream",
		Regions: []string{"us-east-1", "us-west-2"},
		Domain: &Domain{
			HostedZoneID: PlaceholderHostedZoneID,
			ZoneName:     "example.com",
			RecordName:   "ingest.example.com",
		},
	}
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,22}[a-z0-9]$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	zoneIDRE  = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	hostRE    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	emailRE   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	azRE      = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$`)
)

// LoadConfig reads the Config from scope's context (cdk.json's context key
// ContextKey, or -c on the CDK CLI's command line) and validates it. An
// empty Account takes the account the CDK CLI found in the credentials
// (CDK_DEFAULT_ACCOUNT) when there is one; with none, the stacks stay
// account-agnostic, so synth needs no credentials.
func LoadConfig(scope constructs.Construct) (*Config, error) {
	cfg, err := ParseConfig(scope.Node().TryGetContext(jsii.String(ContextKey)))
	if err != nil {
		return nil, err
	}
	if cfg.Account == "" {
		cfg.Account = os.Getenv("CDK_DEFAULT_ACCOUNT")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseConfig reads the context value (a JSON object, or the object CDK
// hands over) into a Config and validates it.
func ParseConfig(v any) (*Config, error) {
	var b []byte
	switch t := v.(type) {
	case nil:
		return nil, fmt.Errorf("config: context key %q is missing: want an object like %s", ContextKey, mustJSON(DefaultConfig()))
	case string:
		b = []byte(t)
	default:
		var err error
		if b, err = json.Marshal(t); err != nil {
			return nil, fmt.Errorf("config: context key %q: %w", ContextKey, err)
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: context key %q: %w (allowed keys: name, regions, account, domain, alarmEmail, availabilityZones, rateLimitPerIp, healthRateLimitPerIp, ingestReservedConcurrency, healthReservedConcurrency, terminationProtection)", ContextKey, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Validate checks every field and names the key, the value and what is
// allowed in its error.
func (c *Config) Validate() error {
	bad := func(key string, val any, want string) error {
		return fmt.Errorf("config: %s = %s: %s", key, mustJSON(val), want)
	}
	if !nameRE.MatchString(c.Name) {
		return bad("name", c.Name, "want 3-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen")
	}
	if len(c.Regions) < 2 || len(c.Regions) > MaxRegions {
		return bad("regions", c.Regions, fmt.Sprintf("want 2 to %d regions, e.g. [\"us-east-1\",\"us-west-2\"]", MaxRegions))
	}
	for i, r := range c.Regions {
		if !regionRE.MatchString(r) {
			return bad("regions", c.Regions, fmt.Sprintf("%q is not a region name like us-east-1", r))
		}
		if slices.Contains(c.Regions[:i], r) {
			return bad("regions", c.Regions, fmt.Sprintf("want different regions, %q is there twice", r))
		}
	}
	if c.Account != "" && !accountRE.MatchString(c.Account) {
		return bad("account", c.Account, "want a 12-digit AWS account id, or leave it out")
	}
	if d := c.Domain; d != nil {
		if !zoneIDRE.MatchString(d.HostedZoneID) {
			return bad("domain.hostedZoneId", d.HostedZoneID, "want a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ")
		}
		zone := strings.TrimSuffix(d.ZoneName, ".")
		if !hostRE.MatchString(zone) {
			return bad("domain.zoneName", d.ZoneName, "want a lowercase DNS name like example.com")
		}
		rec := strings.TrimSuffix(d.RecordName, ".")
		if !hostRE.MatchString(rec) || !strings.HasSuffix(rec, "."+zone) {
			return bad("domain.recordName", d.RecordName, fmt.Sprintf("want a lowercase DNS name inside the zone %s, like ingest.%s", zone, zone))
		}
		d.ZoneName, d.RecordName = zone, rec
	}
	if c.AlarmEmail != "" && !emailRE.MatchString(c.AlarmEmail) {
		return bad("alarmEmail", c.AlarmEmail, "want an email address, or leave it out")
	}
	// WAF rate-based rules take 10 to 2,000,000,000 requests per window.
	type setting struct {
		key string
		v   int
	}
	for _, l := range []setting{{"rateLimitPerIp", c.RateLimitPerIP}, {"healthRateLimitPerIp", c.HealthRateLimitPerIP}} {
		if l.v != 0 && l.v != -1 && (l.v < 10 || l.v > 2_000_000_000) {
			return bad(l.key, l.v, "want requests per 5 minutes per client IP from 10 to 2000000000, or -1 for no limit")
		}
	}
	for _, r := range []setting{{"ingestReservedConcurrency", c.IngestReservedConcurrency}, {"healthReservedConcurrency", c.HealthReservedConcurrency}} {
		if r.v != 0 && r.v != -1 && (r.v < 1 || r.v > maxReservedConcurrency) {
			return bad(r.key, r.v, fmt.Sprintf("want concurrent executions from 1 to %d (within the account's regional Lambda quota, of which 100 stay unreserved), or -1 to reserve none", maxReservedConcurrency))
		}
	}
	for r, azs := range c.AvailabilityZones {
		if !slices.Contains(c.Regions, r) {
			return bad("availabilityZones", r, fmt.Sprintf("want keys among the regions %v", c.Regions))
		}
		if len(azs) != 2 || azs[0] == azs[1] {
			return bad("availabilityZones."+r, azs, "want two different availability zones")
		}
		for _, az := range azs {
			if !azRE.MatchString(az) || !strings.HasPrefix(az, r) {
				return bad("availabilityZones."+r, azs, fmt.Sprintf("%q is not an availability zone of %s (like %sa)", az, r, r))
			}
		}
	}
	return nil
}

// Primary is the first region: it holds the API-key secret.
func (c *Config) Primary() string { return c.Regions[0] }

// Peers are the configured regions other than region, in Config.Regions
// order.
func (c *Config) Peers(region string) []string {
	var out []string
	for _, r := range c.Regions {
		if r != region {
			out = append(out, r)
		}
	}
	return out
}

// AZs are the two availability zones of region, named explicitly.
func (c *Config) AZs(region string) []string {
	if azs, ok := c.AvailabilityZones[region]; ok {
		return azs
	}
	return []string{region + "a", region + "b"}
}
