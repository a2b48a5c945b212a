package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// figure is one number the benchmark reports.
type figure struct {
	// key names it in the JSON line.
	key string
	// value is nil when it was not measured.
	value any
	unit  string
	// target says what it should be, in words; met is nil when there is
	// no target or no value.
	target string
	met    *bool
	note   string
}

// results are the figures of one run, in the order they were taken.
type results struct {
	mode    string
	machine string
	figures []figure
	failed  []string
	elapsed time.Duration
}

func newResults(mode string) *results { return &results{mode: mode} }

func (r *results) add(f figure) { r.figures = append(r.figures, f) }

// atMost adds a figure whose target is an upper bound.
func (r *results) atMost(key string, v float64, unit string, limit float64, note string) {
	met := v <= limit
	r.add(figure{key: key, value: round(v), unit: unit, target: fmt.Sprintf("≤ %s", trim(limit)), met: &met, note: note})
}

// below adds a figure whose target is a strict upper bound.
func (r *results) below(key string, v float64, unit string, limit float64, note string) {
	met := v < limit
	r.add(figure{key: key, value: round(v), unit: unit, target: fmt.Sprintf("< %s", trim(limit)), met: &met, note: note})
}

// info adds a figure without a target.
func (r *results) info(key string, v any, unit, note string) {
	if f, ok := v.(float64); ok {
		v = round(f)
	}
	r.add(figure{key: key, value: v, unit: unit, note: note})
}

// notMeasured adds a figure that could not be taken, and why.
func (r *results) notMeasured(key, target, why string) {
	r.add(figure{key: key, target: target, note: "not measured: " + why})
}

func round(v float64) float64 {
	switch {
	case math.Abs(v) >= 100:
		return math.Round(v)
	case math.Abs(v) >= 1:
		return math.Round(v*10) / 10
	}
	return math.Round(v*1000) / 1000
}

func trim(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", v), ".0") }

// print writes the table, then the JSON line, last.
func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "ecs-deploy bench (%s), %s, took %v\n\n", r.mode, r.machine, r.elapsed.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tmet\tnote")
	for _, f := range r.figures {
		value := "-"
		if f.value != nil {
			value = strings.TrimSpace(fmt.Sprintf("%v %s", formatValue(f.value), f.unit))
		}
		met := ""
		if f.met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.key, value, f.target, met, f.note)
	}
	tw.Flush()
	if len(r.failed) > 0 {
		fmt.Fprintf(w, "\nnot completed: %s (see the errors above)\n", strings.Join(r.failed, ", "))
	}
	fmt.Fprintln(w)
	b, err := json.Marshal(r.jsonLine())
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	fmt.Fprintln(w, string(b))
}

func formatValue(v any) string {
	if m, ok := v.(map[string]float64); ok {
		var parts []string
		for _, k := range sortedKeys(m) {
			parts = append(parts, fmt.Sprintf("%s %s", k, trim(round(m[k]))))
		}
		return strings.Join(parts, ", ")
	}
	if f, ok := v.(float64); ok {
		return trim(f)
	}
	return fmt.Sprint(v)
}

// jsonLine holds every figure by its key (null when not measured), the
// mode, and the measurements that failed.
func (r *results) jsonLine() map[string]any {
	out := map[string]any{"mode": r.mode}
	for _, f := range r.figures {
		out[f.key] = f.value
	}
	if len(r.failed) > 0 {
		out["failed"] = r.failed
	}
	return out
}
