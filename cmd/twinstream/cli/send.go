package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twinstream/twinstream/client"
	"github.com/twinstream/twinstream/client/load"
	"github.com/twinstream/twinstream/cmd/twinstream/send"
)

// defaultCount is what `send` sends without --count or --duration: a
// smoke test.
const defaultCount = 100

// urlList is --url: repeated, or a comma-separated list.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(v string) error {
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u == "" {
			return errors.New("empty URL")
		}
		*l = append(*l, u)
	}
	return nil
}

func runSend(ctx context.Context, args []string, env Env) error {
	var c common
	var o send.Options
	var urls urlList
	fs := newFlags("send", env, &c)
	fs.Var(&urls, "url", "ingest URL, in failover order: repeat it or separate URLs with commas")
	key := fs.String("key", "", "API key (default: $TWINSTREAM_API_KEY)")
	fs.Float64Var(&o.Rate, "rate", 0, "records per second; 0: as fast as possible")
	fs.IntVar(&o.Count, "count", defaultCount, "records to send; 0: no bound")
	fs.DurationVar(&o.Duration, "duration", 0, "stop after this long; 0: no bound")
	fs.IntVar(&o.Size, "size", load.DefaultRecordSize, "bytes of each record's JSON data")
	fs.IntVar(&o.Batch, "batch", load.DefaultBatchSize, "records per batch")
	fs.IntVar(&o.Concurrency, "concurrency", load.DefaultConcurrency, "batches sent at once")
	fs.StringVar(&o.PartitionKey, "partition-key", "", "every record's partition key (default: its id)")
	fs.StringVar(&o.IDPrefix, "id-prefix", "", "ids <prefix><n> (default: ULIDs)")
	fs.DurationVar(&o.MaxElapsed, "max-elapsed", client.DefaultMaxElapsed, "give up retrying a request after this long")
	fs.BoolVar(&o.Gzip, "gzip", false, "gzip the requests")
	idsFile := fs.String("ids", "", "write the acknowledged ids to this file, one a line")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	quiet := fs.Bool("quiet", false, "no progress line, no notes")
	progress := fs.Bool("progress", false, "show the progress line even when stderr is not a terminal")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := onlyArgs(pos, 0, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["duration"] && !set["count"] {
		o.Count = 0
	}
	if *quiet && *progress {
		return usagef("--quiet and --progress: give one of them")
	}
	o.APIKey, o.Endpoints, o.IDs = *key, urls, *idsFile != ""
	keyFrom := "--key"
	if !set["key"] {
		o.APIKey, keyFrom = env.Getenv("TWINSTREAM_API_KEY"), "$TWINSTREAM_API_KEY"
	}
	// The whole command line is checked before anything is asked of AWS
	// or sent.
	if len(o.Endpoints) > 0 {
		if err := o.CheckEndpoints(); err != nil {
			return &usageError{err.Error()}
		}
	}
	if err := o.CheckRun(); err != nil {
		return &usageError{err.Error()}
	}
	term := isTerminal(env.Stderr) && env.Getenv("TERM") != "dumb"
	bar := &send.Bar{W: env.Stderr, Redraw: term}
	note := func(format string, args ...any) {
		if !*quiet {
			bar.Note(fmt.Sprintf(format, args...))
		}
	}
	if len(o.Endpoints) == 0 {
		if o.Endpoints, err = producerURLs(ctx, c, env, note); err != nil {
			return err
		}
	}
	for i, u := range o.Endpoints {
		o.Endpoints[i] = send.WithPath(u)
	}
	// Created before sending: a path that cannot be written fails first.
	var ids *os.File
	if *idsFile != "" {
		if ids, err = os.Create(*idsFile); err != nil {
			return fmt.Errorf("--ids: %w", err)
		}
		defer ids.Close()
	}
	if !*quiet && (*progress || term) {
		o.Progress, o.ProgressEvery = bar.Update, time.Second
		if term {
			o.ProgressEvery = 200 * time.Millisecond
		}
	}
	if !*quiet {
		o.Retry = (&send.Retries{Note: bar.Note}).Retry
	}
	noted := make(chan struct{})
	stopNote := context.AfterFunc(ctx, func() {
		defer close(noted)
		note("interrupted: the batches in flight get up to %v to finish; Ctrl-C again quits at once", load.DefaultGrace)
	})
	rep, runErr := send.Run(ctx, o)
	if !stopNote() {
		<-noted // the note is being written: let it finish before the summary (and exit)
	}
	if rep == nil {
		return runErr
	}

	sum := send.Summarize(&o, rep)
	sum.Interrupted = ctx.Err() != nil
	if runErr != nil {
		runErr = send.Explain(runErr, keyFrom)
		sum.Stopped = runErr.Error()
	}
	if *asJSON {
		err = sum.WriteJSON(env.Stdout)
	} else {
		err = sum.WriteText(env.Stdout)
	}
	if err != nil {
		return err
	}
	if ids != nil {
		if err := writeIDs(ids, rep.IDs); err != nil {
			return fmt.Errorf("--ids: %w", err)
		}
	}
	switch {
	case runErr != nil:
		return runErr
	case rep.Failed > 0:
		return &exitError{code: ExitAttention, err: fmt.Errorf("%d of %d records not acknowledged", rep.Failed, rep.Sent)}
	}
	return nil
}

// producerURLs reads the endpoints from the global stack's outputs:
// ProducerUrl (the accelerator, or the custom domain), then FailoverUrl
// (the Route 53 failover path, with a domain only).
func producerURLs(ctx context.Context, c common, env Env, note func(string, ...any)) ([]string, error) {
	s, err := start(ctx, c, env)
	if err != nil {
		return nil, err
	}
	p, err := s.global(ctx)
	if err != nil {
		return nil, err
	}
	out := p.Global.Outputs
	if out["ProducerUrl"] == "" {
		return nil, fmt.Errorf("stack %s in %s has no ProducerUrl output: pass --url", p.Global.Name, p.Global.Region)
	}
	urls := []string{out["ProducerUrl"]}
	from := "its ProducerUrl output"
	if f := out["FailoverUrl"]; f != "" && f != urls[0] {
		urls = append(urls, f)
		from = "its ProducerUrl and FailoverUrl outputs"
	}
	for _, u := range urls {
		if err := send.CheckURL(u); err != nil {
			return nil, fmt.Errorf("stack %s: %w", p.Global.Name, err)
		}
	}
	note("sending to %s (pipeline %s: %s of stack %s)", strings.Join(urls, ", then "), p.Name, from, p.Global.Name)
	return urls, nil
}

func writeIDs(f *os.File, ids []string) error {
	w := bufio.NewWriter(f)
	for _, id := range ids {
		w.WriteString(id)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
