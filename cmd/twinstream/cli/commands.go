package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/twinstream/twinstream/cmd/twinstream/keys"
	"github.com/twinstream/twinstream/cmd/twinstream/pipeline"
	"github.com/twinstream/twinstream/cmd/twinstream/status"
	"github.com/twinstream/twinstream/cmd/twinstream/traffic"
)

func runStatus(ctx context.Context, args []string, env Env) error {
	var c common
	fs := newFlags("status", env, &c)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := onlyArgs(pos, 0, ""); err != nil {
		return err
	}
	s, err := start(ctx, c, env)
	if err != nil {
		return err
	}
	p, err := s.all(ctx)
	if err != nil {
		return err
	}
	col := &status.Collector{
		Traffic: traffic.Reader{GA: s.clients.Accelerator(), R53: s.clients.Route53(), Timeout: c.timeout},
		Kinesis: s.clients.Kinesis, S3: s.clients.S3, SQS: s.clients.SQS, Timeout: c.timeout,
	}
	r := col.Collect(ctx, p)
	if *asJSON {
		err = r.WriteJSON(env.Stdout)
	} else {
		err = r.WriteTable(env.Stdout)
	}
	switch {
	case err != nil:
		return err
	case len(r.Errors) > 0:
		return &exitError{code: ExitFailure}
	case len(r.Attention) > 0:
		return &exitError{code: ExitAttention}
	}
	return nil
}

func runSwitch(ctx context.Context, verb string, args []string, env Env) error {
	var c common
	var o traffic.Options
	fs := newFlags(verb, env, &c)
	fs.BoolVar(&o.DryRun, "dry-run", false, "print what would change, change nothing")
	if verb == "drain" {
		fs.BoolVar(&o.Force, "force", false, "drain the last region taking traffic")
	}
	fs.DurationVar(&o.Wait, "wait", 5*time.Minute, "wait this long for Global Accelerator (and, draining, Route 53) to apply the change; 0: do not wait")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := onlyArgs(pos, 1, "REGION"); err != nil {
		return err
	}
	s, err := start(ctx, c, env)
	if err != nil {
		return err
	}
	p, err := s.global(ctx)
	if err != nil {
		return err
	}
	if p.Region(pos[0]) == nil {
		return usagef("pipeline %s has no region %s (its regions: %s)", p.Name, pos[0], join(p.RegionNames()))
	}
	sw := &traffic.Switch{Out: env.Stdout, Reader: traffic.Reader{GA: s.clients.Accelerator(), R53: s.clients.Route53(), Timeout: c.timeout}}
	if verb == "drain" {
		err = sw.Drain(ctx, p, pos[0], o)
	} else {
		err = sw.Restore(ctx, p, pos[0], o)
	}
	if errors.Is(err, traffic.ErrRefused) {
		return &exitError{code: ExitRefused, err: err}
	}
	return err
}

func runKeys(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usagef("keys: want add NAME, list or revoke NAME")
	}
	var c common
	fs := newFlags("keys "+args[0], env, &c)
	var asJSON *bool
	var prefix *string
	switch args[0] {
	case "add":
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "revoke":
		prefix = fs.String("sha256", "", "revoke only NAME's key whose sha256 starts with this prefix")
	default:
		return usagef("keys: unknown subcommand %q: want add, list or revoke", args[0])
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	want, what := 1, "NAME"
	if args[0] == "list" {
		want = 0
	}
	if err := onlyArgs(pos, want, what); err != nil {
		return err
	}
	if want == 1 {
		if err := keys.ValidID(pos[0]); err != nil {
			return usagef("producer name: %v", err)
		}
	}
	s, err := start(ctx, c, env)
	if err != nil {
		return err
	}
	p, err := s.all(ctx)
	if err != nil {
		return err
	}
	store := &keys.Store{Secrets: s.clients.Secrets, Regions: p.RegionNames(), SecretID: secretID(p), Timeout: c.timeout}
	switch args[0] {
	case "add":
		return keysAdd(ctx, store, pos[0], env)
	case "list":
		return keysList(ctx, store, *asJSON, env)
	default:
		return keysRevoke(ctx, store, pos[0], *prefix, env)
	}
}

// secretID is the API-key secret the regional stacks' ingest reads.
func secretID(p *pipeline.Pipeline) string {
	for _, r := range p.Regions {
		if r.SecretID != "" {
			return r.SecretID
		}
	}
	return p.Name + "/api-keys"
}

// ttlNote says when ingest sees a change.
const ttlNote = "ingest in every region picks the change up within its API_KEYS_TTL (5 minutes by default) once the replicas have it"

func keysAdd(ctx context.Context, store *keys.Store, id string, env Env) error {
	key, sha, err := keys.New()
	if err != nil {
		return err
	}
	set, res, err := store.Update(ctx, func(s *keys.Set) (bool, error) { return s.Add(id, sha, time.Now()) })
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, key)
	fmt.Fprintf(env.Stderr, "added a key for %s (sha256 %s) to %s in %s, version %s\n", id, keys.Short(sha), res.Name, res.Primary, res.Version)
	if res.Attempts > 1 {
		fmt.Fprintf(env.Stderr, "(another change to the secret was made at the same time; both are kept)\n")
	}
	if n := set.Count(id); n > 1 {
		fmt.Fprintf(env.Stderr, "%s now has %d keys: move its producers to the new key, then remove the old one with\n  twinstream keys revoke %s --sha256 <prefix>   (see twinstream keys list)\n", id, n, id)
	}
	fmt.Fprintf(env.Stderr, "the key above is shown once and stored nowhere: hand it to the producer now.\n%s.\n", ttlNote)
	return nil
}

func keysRevoke(ctx context.Context, store *keys.Store, id, prefix string, env Env) error {
	var gone []keys.Key
	_, res, err := store.Update(ctx, func(s *keys.Set) (bool, error) {
		g, err := s.Revoke(id, prefix)
		gone = g
		return err == nil, err
	})
	if err != nil {
		return err
	}
	for _, k := range gone {
		fmt.Fprintf(env.Stdout, "revoked %s sha256 %s\n", k.ID, keys.Short(k.SHA256))
	}
	fmt.Fprintf(env.Stdout, "secret %s in %s, version %s; %s.\n", res.Name, res.Primary, res.Version, ttlNote)
	return nil
}

func keysList(ctx context.Context, store *keys.Store, asJSON bool, env Env) error {
	set, info, err := store.Read(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		type key struct {
			ID     string `json:"id"`
			SHA256 string `json:"sha256"`
			Added  string `json:"added,omitempty"`
		}
		doc := struct {
			keys.Info
			Keys []key `json:"keys"`
		}{Info: info, Keys: []key{}}
		for _, k := range set.Keys {
			doc.Keys = append(doc.Keys, key{k.ID, k.SHA256, k.Added})
		}
		return writeJSON(env.Stdout, doc)
	}
	fmt.Fprintf(env.Stdout, "secret %s, primary %s, version %s\n", info.Name, info.Primary, info.Version)
	for _, r := range info.Replicas {
		fmt.Fprintf(env.Stdout, "replica %s: %s %s\n", r.Region, r.Status, r.Message)
	}
	if err := set.Validate(); err != nil {
		fmt.Fprintf(env.Stdout, "warning: ingest rejects this key set: %v\n", err)
	}
	fmt.Fprintln(env.Stdout)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tSHA256\tADDED")
	for _, k := range set.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, keys.Short(k.SHA256), k.Added)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d keys, %d producers\n", len(set.Keys), len(set.IDs()))
	return nil
}
