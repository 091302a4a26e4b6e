package stacks

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(`{"name":"twinstream","regions":["us-east-1","us-west-2"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Primary() != "us-east-1" || !slices.Equal(c.Peers("us-east-1"), []string{"us-west-2"}) || !slices.Equal(c.Peers("us-west-2"), []string{"us-east-1"}) {
		t.Errorf("primary/peers: got %s/%v, want us-east-1/[us-west-2]", c.Primary(), c.Peers("us-east-1"))
	}
	if got := c.AZs("us-west-2"); len(got) != 2 || got[0] != "us-west-2a" || got[1] != "us-west-2b" {
		t.Errorf("AZs: got %v, want [us-west-2a us-west-2b]", got)
	}
	if c.Domain != nil || c.Account != "" {
		t.Errorf("optional keys: got domain %v, account %q, want unset", c.Domain, c.Account)
	}
}

func TestParseConfigObject(t *testing.T) {
	// What CDK hands over for a JSON object in cdk.json context.
	v := map[string]any{
		"name":              "orders",
		"regions":           []any{"eu-west-1", "eu-central-1"},
		"account":           "123456789012",
		"domain":            map[string]any{"hostedZoneId": "Z123ABC", "zoneName": "example.org.", "recordName": "in.example.org"},
		"alarmEmail":        "ops@example.org",
		"availabilityZones": map[string]any{"eu-west-1": []any{"eu-west-1b", "eu-west-1c"}},
	}
	c, err := ParseConfig(v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain.ZoneName != "example.org" || c.AZs("eu-west-1")[0] != "eu-west-1b" || c.AZs("eu-central-1")[1] != "eu-central-1b" {
		t.Errorf("got %+v, %+v, want the zone without its dot and the AZ override", c, c.Domain)
	}
}

func TestRateLimit(t *testing.T) {
	for _, tc := range []struct{ set, want int }{{0, DefaultRateLimitPerIP}, {-1, 0}, {500, 500}} {
		if got := (&Config{RateLimitPerIP: tc.set}).RateLimit(); got != tc.want {
			t.Errorf("rateLimitPerIp %d: got %d, want %d", tc.set, got, tc.want)
		}
	}
}

func TestHealthRateLimit(t *testing.T) {
	for _, tc := range []struct{ set, want int }{{0, DefaultHealthRateLimitPerIP}, {-1, 0}, {500, 500}} {
		if got := (&Config{HealthRateLimitPerIP: tc.set}).HealthRateLimit(); got != tc.want {
			t.Errorf("healthRateLimitPerIp %d: got %d, want %d", tc.set, got, tc.want)
		}
	}
}

// TestDefaultHealthRateLimitLetsRoute53Pass: one Route 53 checker sends at
// most one request per RequestInterval to an endpoint, so 300 s / interval
// per 5-minute WAF window from its address; the default limit must leave a
// wide margin (10x at least) over that.
func TestDefaultHealthRateLimitLetsRoute53Pass(t *testing.T) {
	perChecker := 300 / globalCheckInterval
	if perChecker != 30 {
		t.Errorf("requests per 5 minutes from one checker at %d s: got %d, want 30", globalCheckInterval, perChecker)
	}
	if got, want := DefaultHealthRateLimitPerIP, 10*perChecker; got < want {
		t.Errorf("DefaultHealthRateLimitPerIP: got %d, want at least %d (10x one checker's %d)", got, want, perChecker)
	}
	if DefaultHealthRateLimitPerIP > DefaultRateLimitPerIP {
		t.Errorf("DefaultHealthRateLimitPerIP %d: want at most the /v1/records limit %d", DefaultHealthRateLimitPerIP, DefaultRateLimitPerIP)
	}
}

func TestTerminationProtected(t *testing.T) {
	no, yes := false, true
	for _, tc := range []struct {
		set  *bool
		want bool
	}{{nil, true}, {&yes, true}, {&no, false}} {
		if got := (&Config{TerminationProtection: tc.set}).TerminationProtected(); got != tc.want {
			t.Errorf("terminationProtection %v: got %v, want %v", tc.set, got, tc.want)
		}
	}
	c, err := ParseConfig(`{"name":"twinstream","regions":["us-east-1","us-west-2"],"terminationProtection":false}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.TerminationProtected() {
		t.Error(`"terminationProtection":false: got protected, want not`)
	}
}

func TestConfigConcurrency(t *testing.T) {
	for _, tc := range []struct {
		set  int
		want any
	}{{0, nil}, {-1, -1.0}, {50, 50.0}} {
		got := configConcurrency(tc.set)
		if (got == nil) != (tc.want == nil) || got != nil && *got != tc.want {
			t.Errorf("%d: got %v, want %v", tc.set, got, tc.want)
		}
	}
}

// TestThreeRegions: up to MaxRegions regions; the first is the primary and
// every other region is its peer.
func TestThreeRegions(t *testing.T) {
	c, err := ParseConfig(`{"name":"twin","regions":["us-east-1","us-west-2","eu-west-1"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Peers(c.Primary()), []string{"us-west-2", "eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("Peers(primary): got %v, want %v", got, want)
	}
	if got, want := c.Peers("us-west-2"), []string{"us-east-1", "eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("Peers(us-west-2): got %v, want %v", got, want)
	}
	if MaxRegions != 3 {
		t.Errorf("MaxRegions: got %d, want 3 (Global Accelerator fails over among the three closest regions)", MaxRegions)
	}
}

func TestPlaceholderDomain(t *testing.T) {
	if d := DefaultConfig().Domain; !d.Placeholder() || d.HostedZoneID != PlaceholderHostedZoneID {
		t.Errorf("DefaultConfig domain: got %+v, want the placeholder zone %s", d, PlaceholderHostedZoneID)
	}
	if (&Domain{HostedZoneID: "Z1D633PJN98FT9"}).Placeholder() {
		t.Error("a real zone id: got placeholder, want not")
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	const ok = `"name":"twinstream","regions":["us-east-1","us-west-2"]`
	tests := []struct {
		name, in string
		want     []string // substrings: the key, the value, what is allowed
	}{
		{"missing", "", []string{`context key "twinstream" is missing`}},
		{"not an object", `[1]`, []string{`context key "twinstream"`, "cannot unmarshal"}},
		{"unknown key", `{` + ok + `,"region":"x"}`, []string{`unknown field "region"`, "allowed keys"}},
		{"name upper case", `{"name":"Twin","regions":["us-east-1","us-west-2"]}`, []string{"name", `"Twin"`, "lowercase"}},
		{"name too short", `{"name":"tw","regions":["us-east-1","us-west-2"]}`, []string{"name", `"tw"`, "3-24"}},
		{"name ends with hyphen", `{"name":"twin-","regions":["us-east-1","us-west-2"]}`, []string{"name", `"twin-"`, "hyphen"}},
		{"one region", `{"name":"twin","regions":["us-east-1"]}`, []string{"regions", `["us-east-1"]`, "want 2 to 3 regions"}},
		{"four regions", `{"name":"twin","regions":["us-east-1","us-west-2","eu-west-1","ap-south-1"]}`, []string{"regions", "want 2 to 3 regions"}},
		{"bad region", `{"name":"twin","regions":["us-east-1","mars-1"]}`, []string{"regions", `"mars-1"`, "region name"}},
		{"same region", `{"name":"twin","regions":["us-east-1","us-east-1"]}`, []string{"regions", `want different regions, "us-east-1" is there twice`}},
		{"same region of three", `{"name":"twin","regions":["us-east-1","eu-west-1","eu-west-1"]}`, []string{"regions", `"eu-west-1" is there twice`}},
		{"bad account", `{` + ok + `,"account":"1234"}`, []string{"account", `"1234"`, "12-digit"}},
		{"bad zone id", `{` + ok + `,"domain":{"hostedZoneId":"abc","zoneName":"example.com","recordName":"in.example.com"}}`, []string{"domain.hostedZoneId", `"abc"`, "hosted zone id"}},
		{"bad zone name", `{` + ok + `,"domain":{"hostedZoneId":"Z1","zoneName":"Example.com","recordName":"in.example.com"}}`, []string{"domain.zoneName", `"Example.com"`, "lowercase DNS name"}},
		{"record outside zone", `{` + ok + `,"domain":{"hostedZoneId":"Z1","zoneName":"example.com","recordName":"in.example.org"}}`, []string{"domain.recordName", `"in.example.org"`, "inside the zone example.com"}},
		{"bad email", `{` + ok + `,"alarmEmail":"ops"}`, []string{"alarmEmail", `"ops"`, "email address"}},
		{"AZ for another region", `{` + ok + `,"availabilityZones":{"eu-west-1":["eu-west-1a","eu-west-1b"]}}`, []string{"availabilityZones", `"eu-west-1"`, "among the regions"}},
		{"AZ of another region", `{` + ok + `,"availabilityZones":{"us-east-1":["us-east-1a","us-west-2b"]}}`, []string{"availabilityZones.us-east-1", `"us-west-2b"`, "not an availability zone of us-east-1"}},
		{"one AZ", `{` + ok + `,"availabilityZones":{"us-east-1":["us-east-1a"]}}`, []string{"availabilityZones.us-east-1", "two different"}},
		{"rate limit too low", `{` + ok + `,"rateLimitPerIp":5}`, []string{"rateLimitPerIp", "5", "from 10 to 2000000000, or -1"}},
		{"health rate limit too low", `{` + ok + `,"healthRateLimitPerIp":9}`, []string{"healthRateLimitPerIp = 9", "from 10 to 2000000000, or -1"}},
		{"health rate limit -2", `{` + ok + `,"healthRateLimitPerIp":-2}`, []string{"healthRateLimitPerIp = -2", "or -1 for no limit"}},
		{"ingest concurrency -5", `{` + ok + `,"ingestReservedConcurrency":-5}`, []string{"ingestReservedConcurrency = -5", "from 1 to 100000", "or -1 to reserve none"}},
		{"health concurrency too high", `{` + ok + `,"healthReservedConcurrency":100001}`, []string{"healthReservedConcurrency = 100001", "from 1 to 100000"}},
		{"concurrency not a number", `{` + ok + `,"ingestReservedConcurrency":"lots"}`, []string{`context key "twinstream"`, "cannot unmarshal"}},
		{"termination protection not a bool", `{` + ok + `,"terminationProtection":"yes"}`, []string{`context key "twinstream"`, "cannot unmarshal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in any
			if tt.in != "" {
				in = tt.in
			}
			_, err := ParseConfig(in)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name       string
		ctx        any // the context key's value; nil: absent
		envAccount string
		want       string // the account, when no error
		wantErr    string
	}{
		{"account from the CLI", map[string]any{"name": "orders", "regions": []any{"eu-west-1", "eu-central-1"}}, "111122223333", "111122223333", ""},
		{"no account anywhere: agnostic", map[string]any{"name": "orders", "regions": []any{"eu-west-1", "eu-central-1"}}, "", "", ""},
		{"configured account wins", map[string]any{"name": "orders", "regions": []any{"eu-west-1", "eu-central-1"}, "account": "444455556666"}, "111122223333", "444455556666", ""},
		{"the CLI's account is checked too", map[string]any{"name": "orders", "regions": []any{"eu-west-1", "eu-central-1"}}, "not-an-account", "", "config: account"},
		{"missing key", nil, "", "", "context key \"twinstream\" is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CDK_DEFAULT_ACCOUNT", tt.envAccount)
			ctx := map[string]any{}
			if tt.ctx != nil {
				ctx[ContextKey] = tt.ctx
			}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
			cfg, err := LoadConfig(app)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if cfg.Account != tt.want {
				t.Errorf("account: got %q, want %q", cfg.Account, tt.want)
			}
		})
	}
}
