package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/pipeline"
)

func newLogger(w io.Writer, format, level string) zerolog.Logger {
	if format == "console" || (format == "auto" && isTerminal(w)) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", "ecs-deploy").Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// loggingSink logs each event before passing it on.
type loggingSink struct{ next pipeline.Sink }

func (s loggingSink) Publish(ctx context.Context, e events.Event) error {
	ev := zerolog.Ctx(ctx).Info()
	if e.Error != "" {
		ev = zerolog.Ctx(ctx).Warn().Str("error", e.Error)
	}
	// The context's logger already names the deploy.
	ev.Str("event_type", string(e.Type)).Int("step", e.Step).Str("step_name", e.StepName).Msg(e.Message)
	return s.next.Publish(ctx, e)
}
