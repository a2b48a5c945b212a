package handlers

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/rs/zerolog"
)

// WatermillLogger adapts a zerolog logger for watermill. Watermill's info
// messages go out at debug level: they are about its own plumbing.
type WatermillLogger struct{ Log zerolog.Logger }

var _ watermill.LoggerAdapter = WatermillLogger{}

func (l WatermillLogger) Error(msg string, err error, fields watermill.LogFields) {
	l.Log.Error().Err(err).Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) Info(msg string, fields watermill.LogFields) {
	l.Log.Debug().Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) Debug(msg string, fields watermill.LogFields) {
	l.Log.Debug().Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) Trace(msg string, fields watermill.LogFields) {
	l.Log.Trace().Fields(map[string]any(fields)).Msg(msg)
}

func (l WatermillLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return WatermillLogger{Log: l.Log.With().Fields(map[string]any(fields)).Logger()}
}
