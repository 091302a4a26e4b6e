package drill

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Timeline is what the drill's plot shows: per region and per Step the
// records acknowledged and, of those, spilled; the accelerator's events; and
// the scenario's moments (zero when they did not happen).
type Timeline struct {
	Start   time.Time
	Step    time.Duration
	Regions []string
	// Accepted and Spilled count ids per step by the region that acked them;
	// Spilled counts ids of requests whose answer said spilled > 0.
	Accepted map[string][]int
	Spilled  map[string][]int
	// Failed counts the records of failed attempts per step by the region
	// that answered (AddFailures); the plot draws it when there are any.
	Failed map[string][]int
	Health []Event // accelerator events, oldest first

	FailureAt  time.Time // the fault began
	RecoveryAt time.Time // the fault ended
	MovedAt    time.Time // traffic moved away from the failed region
	DrainedAt  time.Time // the spill was drained
	Title      string    // default "twinstream outage drill"
	// FailureLabel and RecoveryLabel name the failure's markers. Default
	// "Kinesis failure" and "Kinesis back".
	FailureLabel, RecoveryLabel string
}

// BuildTimeline bins the acks by region and step (step <= 0: one second).
// Acks of a region not in regions add it (after the given ones, sorted; an
// empty region shows as "unknown"); acks before start are left out. MovedAt
// is set to the first "route" event that takes a region out, if any; the
// caller sets the scenario's other moments.
func BuildTimeline(start time.Time, step time.Duration, regions []string, acks map[string]Ack, events []Event) *Timeline {
	if step <= 0 {
		step = time.Second
	}
	tl := &Timeline{
		Start: start, Step: step, Regions: slices.Clone(regions),
		Accepted: map[string][]int{}, Spilled: map[string][]int{},
		Health: slices.Clone(events),
	}
	n := 0
	var extra []string
	for _, a := range acks {
		if a.At.Before(start) {
			continue
		}
		n = max(n, int(a.At.Sub(start)/step)+1)
		region := plRegion(a.Region)
		if !slices.Contains(tl.Regions, region) && !slices.Contains(extra, region) {
			extra = append(extra, region)
		}
	}
	slices.Sort(extra)
	tl.Regions = append(tl.Regions, extra...)
	for _, ev := range events {
		if !ev.At.Before(start) {
			n = max(n, int(ev.At.Sub(start)/step)+1)
		}
		if tl.MovedAt.IsZero() && ev.Kind == EventRoute && strings.HasPrefix(ev.Detail, RouteOut) {
			tl.MovedAt = ev.At
		}
	}
	for _, r := range tl.Regions {
		tl.Accepted[r] = make([]int, n)
		tl.Spilled[r] = make([]int, n)
	}
	for _, a := range acks {
		if a.At.Before(start) {
			continue
		}
		i, region := int(a.At.Sub(start)/step), plRegion(a.Region)
		tl.Accepted[region][i]++
		if a.Spilled {
			tl.Spilled[region][i]++
		}
	}
	return tl
}

// AddFailures bins the records of failed attempts by the region that
// answered them (those without an answer show as "unknown") and step, like
// the acks; attempts before Start are left out.
func (tl *Timeline) AddFailures(fs []Failure) {
	step := tl.Step
	if step <= 0 {
		step = time.Second
	}
	if tl.Failed == nil {
		tl.Failed = map[string][]int{}
	}
	for _, f := range fs {
		if f.At.Before(tl.Start) {
			continue
		}
		i, region := int(f.At.Sub(tl.Start)/step), plRegion(f.Region)
		if !slices.Contains(tl.Regions, region) {
			tl.Regions = append(tl.Regions, region)
		}
		bins := tl.Failed[region]
		for len(bins) <= i {
			bins = append(bins, 0)
		}
		bins[i] += f.Records
		tl.Failed[region] = bins
	}
	// Every series of every region has the same length.
	n := 0
	for _, r := range tl.Regions {
		n = max(n, len(tl.Accepted[r]), len(tl.Spilled[r]), len(tl.Failed[r]))
	}
	for _, r := range tl.Regions {
		for _, m := range []map[string][]int{tl.Accepted, tl.Spilled, tl.Failed} {
			if m == nil {
				continue
			}
			bins := m[r]
			for len(bins) < n {
				bins = append(bins, 0)
			}
			m[r] = bins
		}
	}
}

// hasFailures reports whether any attempt failed.
func (tl *Timeline) hasFailures() bool {
	for _, bins := range tl.Failed {
		for _, v := range bins {
			if v > 0 {
				return true
			}
		}
	}
	return false
}

func plRegion(r string) string {
	if r == "" {
		return "unknown"
	}
	return r
}

// Plot geometry, in px.
const (
	plWidth     = 1000
	plLeft      = 80
	plRight     = plWidth - 30
	plPlotH     = 260
	plBandH     = 14
	plBandGap   = 6
	plRowH      = 13 // a marker label row
	plMaxLabels = 8  // labeled markers; more are drawn unlabeled
)

var plColors = []string{"#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

const (
	plGreen = "#43a047"
	plRed   = "#e53935"
)

// plMarker is one vertical line.
type plMarker struct {
	t     float64 // seconds since start
	label string
	color string
	dash  string
	order int // for ties: the scenario's order
}

// WriteSVG writes the timeline as a self-contained SVG (no external fonts,
// images or scripts): per region the accepted records/s (solid line), the
// spilled records/s (shaded area under it) and, when any, the records of
// failed requests/s (dotted), health bands per region under the plot (green
// healthy, red unhealthy), vertical markers for the failure, each region
// turning unhealthy, traffic moved, the recovery, spill drained and traffic
// back, axes and a legend. The same timeline gives the same bytes.
func (tl *Timeline) WriteSVG(w io.Writer) error {
	step := tl.Step
	if step <= 0 {
		step = time.Second
	}
	stepS := step.Seconds()
	sec := func(t time.Time) float64 { return t.Sub(tl.Start).Seconds() }

	// Markers, in time order.
	var marks []plMarker
	add := func(t time.Time, label, color, dash string, order int) {
		if !t.IsZero() {
			marks = append(marks, plMarker{sec(t), label, color, dash, order})
		}
	}
	failLabel, backLabel := tl.FailureLabel, tl.RecoveryLabel
	if failLabel == "" {
		failLabel = "Kinesis failure"
	}
	if backLabel == "" {
		backLabel = "Kinesis back"
	}
	failures := tl.hasFailures()
	add(tl.FailureAt, failLabel, "#b71c1c", "", 0)
	for _, ev := range tl.Health {
		if ev.Kind == EventUnhealthy {
			add(ev.At, plRegion(ev.Region)+" unhealthy", plRed, "4 3", 1)
		}
	}
	add(tl.MovedAt, "traffic moved", "#212121", "8 3", 2)
	add(tl.RecoveryAt, backLabel, "#1b5e20", "", 3)
	add(tl.DrainedAt, "spill drained", "#0d47a1", "2 2", 4)
	add(tl.backAt(), "traffic back", "#212121", "2 4", 5)
	slices.SortStableFunc(marks, func(a, b plMarker) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.order, b.order))
	})

	// Ranges.
	n := 0
	for _, r := range tl.Regions {
		n = max(n, len(tl.Accepted[r]), len(tl.Spilled[r]), len(tl.Failed[r]))
	}
	tMax := float64(n) * stepS
	for _, m := range marks {
		tMax = max(tMax, m.t)
	}
	for _, ev := range tl.Health {
		tMax = max(tMax, sec(ev.At))
	}
	tMax = max(tMax, stepS)
	xStep := plNiceStep(tMax, 10)
	tMax = math.Ceil(tMax/xStep-1e-9) * xStep
	yMax := 0.0
	for _, r := range tl.Regions {
		for _, v := range tl.Accepted[r] {
			yMax = max(yMax, float64(v)/stepS)
		}
		for _, v := range tl.Spilled[r] {
			yMax = max(yMax, float64(v)/stepS)
		}
		for _, v := range tl.Failed[r] {
			yMax = max(yMax, float64(v)/stepS)
		}
	}
	yMax = max(yMax, 1)
	yStep := plNiceStep(yMax, 5)
	yMax = math.Ceil(yMax/yStep-1e-9) * yStep

	labeled := min(len(marks), plMaxLabels)
	plotTop := 56 + labeled*plRowH + 6
	plotBottom := plotTop + plPlotH
	bandsTop := plotBottom + 62
	bandsBottom := bandsTop + len(tl.Regions)*(plBandH+plBandGap)
	legendTop := bandsBottom + 16
	series := 2
	if failures {
		series = 3
	}
	legendItems := series*len(tl.Regions) + 2 + 6
	const legendCols, legendColW, legendRowH = 4, 225, 18
	height := legendTop + ((legendItems+legendCols-1)/legendCols)*legendRowH + 10

	x := func(s float64) float64 { return plLeft + s/tMax*(plRight-plLeft) }
	y := func(v float64) float64 { return float64(plotBottom) - v/yMax*plPlotH }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", plWidth, height, plWidth, height)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", plWidth, height)
	title := tl.Title
	if title == "" {
		title = "twinstream outage drill"
	}
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="16" font-weight="bold">%s</text>`+"\n", plLeft, plEsc(title))
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555555">start %s, %s per step; records acknowledged per second, by the region that answered</text>`+"\n",
		plLeft, plEsc(tl.Start.UTC().Format("2006-01-02 15:04:05.000 UTC")), plEsc(step.String()))

	// Grid and axes.
	b.WriteString(`<g stroke="#e0e0e0" stroke-width="1">` + "\n")
	for k := 0; float64(k)*yStep <= yMax+yStep/2; k++ {
		v := float64(k) * yStep
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s"/>`+"\n", plLeft, plF(y(v)), plRight, plF(y(v)))
	}
	for k := 0; float64(k)*xStep <= tMax+xStep/2; k++ {
		s := float64(k) * xStep
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d"/>`+"\n", plF(x(s)), plotTop, plF(x(s)), plotBottom)
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#424242"/>`+"\n", plLeft, plotTop, plRight-plLeft, plPlotH)
	b.WriteString(`<g fill="#424242">` + "\n")
	for k := 0; float64(k)*yStep <= yMax+yStep/2; k++ {
		v := float64(k) * yStep
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end">%s</text>`+"\n", plLeft-6, plF(y(v)+4), plTick(v, yStep))
	}
	for k := 0; float64(k)*xStep <= tMax+xStep/2; k++ {
		s := float64(k) * xStep
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", plF(x(s)), plotBottom+15, plTick(s, xStep))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds since start</text>`+"\n", (plLeft+plRight)/2, plotBottom+32)
	fmt.Fprintf(&b, `<text x="20" y="%d" text-anchor="middle" transform="rotate(-90 20 %d)">records/s</text>`+"\n", (plotTop+plotBottom)/2, (plotTop+plotBottom)/2)

	// Series. Regions often run at the same rate: each line is narrower
	// than the one drawn before it, so a line on top leaves the one below
	// visible.
	// Spilled records are a part of the accepted ones: shaded areas under
	// the lines, so a region that spills everything still shows both.
	for i, r := range tl.Regions {
		if pts := plPoints(tl.Spilled[r], stepS, x, y); pts != "" {
			n := len(tl.Spilled[r])
			fmt.Fprintf(&b, `<polygon fill="%s" fill-opacity="%s" stroke="none" points="%s,%s %s %s,%s"/>`+"\n", plColors[i%len(plColors)], plAreaOpacity,
				plF(x(0.5*stepS)), plF(y(0)), pts, plF(x((float64(n)-0.5)*stepS)), plF(y(0)))
		}
	}
	for i, r := range tl.Regions {
		color, width := plColors[i%len(plColors)], plWidthOf(i)
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%s" stroke-linejoin="round" points="%s"/>`+"\n", color, width, plPoints(tl.Accepted[r], stepS, x, y))
		if failures {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%s" stroke-dasharray="1 3" stroke-linecap="round" points="%s"/>`+"\n", color, width, plPoints(tl.Failed[r], stepS, x, y))
		}
	}

	// Health bands.
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#424242">health verdict of the accelerator's checks (green healthy, red unhealthy)</text>`+"\n", plLeft, bandsTop-8)
	for i, r := range tl.Regions {
		top := bandsTop + i*(plBandH+plBandGap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", plLeft-6, top+plBandH-3, plEsc(r))
		healthy, from := true, 0.0
		band := func(to float64) {
			if to <= from {
				return
			}
			color := plGreen
			if !healthy {
				color = plRed
			}
			fmt.Fprintf(&b, `<rect x="%s" y="%d" width="%s" height="%d" fill="%s"/>`+"\n", plF(x(from)), top, plF(x(to)-x(from)), plBandH, color)
		}
		for _, ev := range tl.Health {
			if plRegion(ev.Region) != r || (ev.Kind != EventHealthy && ev.Kind != EventUnhealthy) {
				continue
			}
			t := min(max(sec(ev.At), 0), tMax)
			if now := ev.Kind == EventHealthy; now != healthy {
				band(t)
				healthy, from = now, t
			}
		}
		band(tMax)
	}

	// Markers: lines over plot and bands, labels in rows above the plot.
	for i, m := range marks {
		mx := x(min(max(m.t, 0), tMax))
		dash := ""
		if m.dash != "" {
			dash = ` stroke-dasharray="` + m.dash + `"`
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-width="1.5"%s/>`+"\n", plF(mx), plotTop, plF(mx), bandsBottom, m.color, dash)
		if i >= plMaxLabels {
			continue
		}
		ly := 56 + i*plRowH + 9
		anchor, lx := "start", mx+3
		if mx > plRight-180 {
			anchor, lx = "end", mx-3
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-width="1"%s/>`+"\n", plF(mx), ly-9, plF(mx), plotTop, m.color, dash)
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="%s" fill="%s">%s</text>`+"\n", plF(lx), ly, anchor, m.color,
			plEsc(fmt.Sprintf("%s %.1fs", m.label, m.t)))
	}

	// Legend.
	item := 0
	pos := func() (int, int) {
		cx, cy := plLeft+(item%legendCols)*legendColW, legendTop+(item/legendCols)*legendRowH
		item++
		return cx, cy
	}
	lineItem := func(label, color, dash string, width string) {
		cx, cy := pos()
		d := ""
		if dash != "" {
			d = ` stroke-dasharray="` + dash + `"`
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%s"%s/>`+"\n", cx, cy, cx+28, cy, color, width, d)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", cx+34, cy+4, plEsc(label))
	}
	boxItem := func(label, color, opacity string) {
		cx, cy := pos()
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="28" height="10" fill="%s" fill-opacity="%s"/>`+"\n", cx, cy-5, color, opacity)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", cx+34, cy+4, plEsc(label))
	}
	for i, r := range tl.Regions {
		color := plColors[i%len(plColors)]
		lineItem(r+" accepted records/s", color, "", plWidthOf(i))
		boxItem(r+" spilled records/s", color, plAreaOpacity)
		if failures {
			lineItem(r+" records in failed requests/s", color, "1 3", plWidthOf(i))
		}
	}
	boxItem("healthy", plGreen, "1")
	boxItem("unhealthy", plRed, "1")
	lineItem(failLabel, "#b71c1c", "", "1.5")
	lineItem("region unhealthy", plRed, "4 3", "1.5")
	lineItem("traffic moved", "#212121", "8 3", "1.5")
	lineItem(backLabel, "#1b5e20", "", "1.5")
	lineItem("spill drained", "#0d47a1", "2 2", "1.5")
	lineItem("traffic back", "#212121", "2 4", "1.5")

	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	if err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// plAreaOpacity is the spilled areas' opacity.
const plAreaOpacity = "0.3"

// backAt is when routing took the region that traffic moved away from back
// in (zero: it did not).
func (tl *Timeline) backAt() time.Time {
	if tl.MovedAt.IsZero() {
		return time.Time{}
	}
	region := ""
	for _, ev := range tl.Health {
		if ev.Kind != EventRoute || ev.At.Before(tl.MovedAt) {
			continue
		}
		switch {
		case region == "" && strings.HasPrefix(ev.Detail, RouteOut):
			region = ev.Region
		case region != "" && ev.Region == region && strings.HasPrefix(ev.Detail, RouteIn):
			return ev.At
		}
	}
	return time.Time{}
}

// plWidthOf is the stroke width of region i's lines.
func plWidthOf(i int) string { return plF(max(4-1.2*float64(i), 1.5)) }

// plPoints is a polyline's points: each step's rate at the step's middle.
func plPoints(counts []int, stepS float64, x, y func(float64) float64) string {
	var b strings.Builder
	for i, c := range counts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(plF(x((float64(i) + 0.5) * stepS)))
		b.WriteByte(',')
		b.WriteString(plF(y(float64(c) / stepS)))
	}
	return b.String()
}

// plNiceStep is a 1, 2 or 5 times a power of ten step giving about target
// ticks over span.
func plNiceStep(span float64, target int) float64 {
	raw := span / float64(target)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw-1e-12 {
			return m * mag
		}
	}
	return 10 * mag
}

// plTick formats a tick value with as many decimals as the step needs.
func plTick(v, step float64) string {
	dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	return strconv.FormatFloat(v, 'f', dec, 64)
}

func plF(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func plEsc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
