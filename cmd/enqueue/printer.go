package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"ecs-deploy/events"
)

// printer shows the request's progress: JSON lines for machines, a
// progress bar on a terminal, plain lines otherwise.
type printer struct {
	w        io.Writer
	json     bool
	terminal bool
	// shown says which event types were printed.
	shown map[events.Type]bool
}

func newPrinter(output string, w io.Writer) *printer {
	f, ok := w.(*os.File)
	return &printer{w: w, json: output == "json", terminal: ok && isatty.IsTerminal(f.Fd())}
}

func (p *printer) sent(req events.Request, correlationID, queueURL string) {
	if p.json {
		_ = json.NewEncoder(p.w).Encode(map[string]string{"request_id": req.RequestID, "correlation_id": correlationID, "queue": queueURL})
		return
	}
	fmt.Fprintf(p.w, "request %s (correlation %s): %s of %s to %s sent to %s\n", req.RequestID, correlationID, req.EffectiveMode(), req.App, req.Env, queueURL)
}

func (p *printer) event(e events.Event) {
	if p.shown == nil {
		p.shown = map[events.Type]bool{}
	}
	p.shown[e.Type] = true
	if p.json {
		_ = json.NewEncoder(p.w).Encode(e)
		return
	}
	line := describe(e)
	if p.terminal && e.Step > 0 {
		const width = 24
		done := e.Step * width / 12
		fmt.Fprintf(p.w, "\r\033[K[%s%s] %2d/12 %s", strings.Repeat("#", done), strings.Repeat("-", width-done), e.Step, line)
		if e.Type == events.StepFailed {
			fmt.Fprintln(p.w)
		}
		return
	}
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, line)
}

func describe(e events.Event) string {
	var b strings.Builder
	switch {
	case e.Step > 0:
		fmt.Fprintf(&b, "step %d %s: %s", e.Step, e.StepName, strings.TrimPrefix(string(e.Type), "step."))
	default:
		b.WriteString(string(e.Type))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Error != "" {
		fmt.Fprintf(&b, ": %s", e.Error)
	}
	return b.String()
}
