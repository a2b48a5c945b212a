package sandbox

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/appstatus"
)

// timeline prints the story as it happens.
type timeline struct {
	out    io.Writer
	colour bool
	start  time.Time
}

const (
	ansiReset = "\033[0m"
	ansiBold  = "\033[1m"
	ansiRed   = "\033[31m"
	ansiGreen = "\033[32m"
	ansiBlue  = "\033[34m"
	ansiDim   = "\033[2m"
)

func (t *timeline) paint(code, s string) string {
	if !t.colour || s == "" {
		return s
	}
	return code + s + ansiReset
}

// colourWord paints blue and green in their colours.
func (t *timeline) colourWord(c string) string {
	switch c {
	case "blue":
		return t.paint(ansiBlue, c)
	case "green":
		return t.paint(ansiGreen, c)
	}
	return c
}

func (t *timeline) header(n, total int, p Part, before Serving) {
	fmt.Fprintf(t.out, "\n%s  (%s serves)\n", t.paint(ansiBold, fmt.Sprintf("[%d/%d] %s", n, total, p.Title)), t.servingWord(before))
}

func (t *timeline) servingWord(s Serving) string {
	if s.Colour == "" {
		return "?"
	}
	return t.colourWord(s.Colour) + strings.TrimPrefix(s.String(), s.Colour)
}

// line prints one event with what serves and the task sets.
func (t *timeline) line(e events.Event, st appstatus.AppEnv) {
	at := fmt.Sprintf("%+7.1fs", time.Since(t.start).Seconds())
	var what string
	switch e.Type {
	case events.StepSucceeded:
		what = fmt.Sprintf("step %2d %-28s %s", e.Step, e.StepName, t.paint(ansiGreen, "ok    "))
	case events.StepFailed:
		what = fmt.Sprintf("step %2d %-28s %s", e.Step, e.StepName, t.paint(ansiRed, "FAILED"))
	default:
		what = fmt.Sprintf("%-43s", string(e.Type))
	}
	fmt.Fprintf(t.out, "  %s  %s  serving %-5s  %s\n", t.paint(ansiDim, at), what, t.colourWord(st.Serving), t.taskSets(st))
	detail := e.Error
	if detail == "" && e.Type != events.StepSucceeded {
		detail = e.Message
	}
	if detail != "" {
		fmt.Fprintf(t.out, "  %s  %s\n", strings.Repeat(" ", len(at)), t.paint(ansiDim, shorten(detail, 150)))
	}
}

// taskSets describes the task sets: colour, build, status and tasks.
func (t *timeline) taskSets(st appstatus.AppEnv) string {
	if len(st.TaskSets) == 0 {
		return "no task sets"
	}
	var parts []string
	for _, ts := range st.TaskSets {
		parts = append(parts, fmt.Sprintf("%s %s %s %d/%d", t.colourWord(ts.Colour), buildLabel(ts), ts.Status, ts.Running, ts.Desired))
	}
	return strings.Join(parts, " | ")
}

func buildLabel(ts appstatus.TaskSet) string {
	switch {
	case ts.Build > 0:
		return fmt.Sprintf("b%d", ts.Build)
	case ts.DeployID == "seed":
		return "seed"
	}
	return "b?"
}

func (t *timeline) note(msg string) {
	fmt.Fprintf(t.out, "  %s  %s\n", strings.Repeat(" ", 8), t.paint(ansiBold, msg))
}

func (t *timeline) verdict(o Outcome) {
	mark := t.paint(ansiGreen, "as expected")
	if !o.OK {
		mark = t.paint(ansiRed, "NOT AS EXPECTED: "+o.Problem)
	}
	fmt.Fprintf(t.out, "  => %s in %.1fs; %s serves: %s\n", o.Final, o.Took.Seconds(), t.servingWord(o.After), mark)
}

// PrintSummary prints one row per part.
func PrintSummary(w io.Writer, outs []Outcome) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\toperation\toutcome\tfailed at\tserving before\tserving after\ttook\tas expected")
	for _, o := range outs {
		failed := "-"
		if o.FailedAt > 0 {
			failed = fmt.Sprintf("step %d", o.FailedAt)
		}
		ok := "yes"
		if !o.OK {
			ok = "NO: " + o.Problem
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.1fs\t%s\n", o.N, o.Title, o.Final, failed, o.Before, o.After, o.Took.Seconds(), ok)
	}
	_ = tw.Flush()
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
