package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a terminal: one column per region, then
// what needs attention and what could not be read.
func (r *Report) WriteTable(w io.Writer) error {
	acc := r.Accelerator.Status
	if r.Accelerator.Error != "" {
		acc = "?"
	}
	fmt.Fprintf(w, "pipeline %s   stack %s %s   accelerator %s\n", r.Pipeline, r.GlobalStack.Name, r.GlobalStack.Status, acc)
	if u := r.GlobalStack.Outputs["ProducerUrl"]; u != "" {
		fmt.Fprintf(w, "producers: %s", u)
		if f := r.GlobalStack.Outputs["FailoverUrl"]; f != "" {
			fmt.Fprintf(w, "   failover: %s", f)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	row := func(label string, cell func(*Region) string) {
		cells := []string{label}
		for _, rs := range r.Regions {
			cells = append(cells, cell(rs))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	row("", func(rs *Region) string { return rs.Region })
	row("stack", func(rs *Region) string {
		if rs.StackError != "" {
			return "ERROR (see below)"
		}
		return rs.Stack.Status
	})
	row("accelerator endpoint", func(rs *Region) string {
		if rs.Accelerator.Error != "" {
			return "?"
		}
		return rs.Accelerator.Health
	})
	row("traffic dial", func(rs *Region) string {
		a := rs.Accelerator
		if a.Group == nil {
			return "?"
		}
		s := pctF(a.Dial)
		if a.Drift {
			s += " (template " + pctF(a.TemplateDial) + ")"
		}
		return s
	})
	row("route 53 check", func(rs *Region) string {
		if rs.Route53.Check == nil {
			return "?"
		}
		return rs.Route53.Verdict()
	})
	row("route 53 path", func(rs *Region) string {
		h := rs.Route53
		if h.Check == nil {
			return "?"
		}
		s := h.Path
		if h.Drift {
			s += " (template " + h.TemplatePath + ")"
		}
		return s
	})
	row("kinesis stream", func(rs *Region) string {
		switch {
		case rs.Stack == nil:
			return "-"
		case rs.Stream.Error != "":
			return "?"
		}
		return fmt.Sprintf("%s, %d shards", rs.Stream.Status, rs.Stream.OpenShards)
	})
	row("spill backlog", func(rs *Region) string {
		s := rs.Spill
		switch {
		case rs.Stack == nil:
			return "-"
		case s.Error != "":
			return "?"
		case s.Objects == 0:
			return "0"
		}
		return fmt.Sprintf("%s, oldest %s", plural(count(s.Objects, s.AtLeast), s.Objects, "object"), age(s.OldestAgeSeconds))
	})
	queue := func(q func(*Region) Queue) func(*Region) string {
		return func(rs *Region) string {
			switch {
			case rs.Stack == nil:
				return "-"
			case q(rs).Error != "":
				return "?"
			case q(rs).InFlight > 0:
				return fmt.Sprintf("%d (+%d in flight)", q(rs).Messages, q(rs).InFlight)
			}
			return fmt.Sprint(q(rs).Messages)
		}
	}
	row("replay dead letters", queue(func(rs *Region) Queue { return rs.ReplayDeadLetter }))
	row("processor failures", queue(func(rs *Region) Queue { return rs.ProcessorFailures }))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, sec := range []struct {
		title string
		lines []string
	}{{"attention", r.Attention}, {"could not read", r.Errors}} {
		if len(sec.lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", sec.title)
		for _, l := range sec.lines {
			fmt.Fprintf(w, "  - %s\n", l)
		}
	}
	if len(r.Attention) == 0 && len(r.Errors) == 0 {
		fmt.Fprintln(w, "\nall regions healthy, taking traffic on both paths, nothing waiting")
	}
	return nil
}
