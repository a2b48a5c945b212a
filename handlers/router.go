package handlers

import (
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/rs/zerolog"
)

// RouterConfig wires the deploy handler into a watermill router.
type RouterConfig struct {
	// Subscriber delivers messages of the request queue, QueueURL.
	Subscriber message.Subscriber
	QueueURL   string
	// DeadLetter receives rejected requests, on DeadLetterURL.
	DeadLetter    message.Publisher
	DeadLetterURL string
	Deploy        *Deploy
	Log           zerolog.Logger
	// CloseTimeout is how long Close waits for running handlers: the
	// daemon's shutdown budget. Default 25s.
	CloseTimeout time.Duration
	// Retries of a failing request before it is put back. Default 3.
	Retries int
}

// Validate reports every missing field.
func (c RouterConfig) Validate() error {
	var errs []error
	if c.Subscriber == nil || c.QueueURL == "" {
		errs = append(errs, errors.New("handlers.RouterConfig needs a Subscriber and a QueueURL"))
	}
	if c.DeadLetter == nil || c.DeadLetterURL == "" {
		errs = append(errs, errors.New("handlers.RouterConfig needs a DeadLetter publisher and a DeadLetterURL"))
	}
	if c.Deploy == nil {
		errs = append(errs, errors.New("handlers.RouterConfig.Deploy is nil"))
	}
	return errors.Join(errs...)
}

// NewRouter returns a router running the deploy handler under, outermost
// first: a logger in the message's context, a correlation ID, the poison
// queue for rejected requests, retries with backoff for passing failures,
// and a recoverer that turns a panic into an error.
func NewRouter(cfg RouterConfig) (*message.Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = 25 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	wlog := WatermillLogger{Log: cfg.Log}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, wlog)
	if err != nil {
		return nil, err
	}
	poison, err := middleware.PoisonQueueWithFilter(cfg.DeadLetter, cfg.DeadLetterURL, Rejected)
	if err != nil {
		return nil, err
	}
	r.AddMiddleware(
		withLogger(cfg.Log),
		ensureCorrelationID,
		poison,
		middleware.Retry{
			MaxRetries: cfg.Retries, InitialInterval: time.Second, MaxInterval: 10 * time.Second, Multiplier: 2,
			RandomizationFactor: 0.2, Logger: wlog,
			ShouldRetry: func(p middleware.RetryParams) bool { return Retryable(p.Err) },
		}.Middleware,
		middleware.Recoverer,
	)
	r.AddConsumerHandler("deploy", cfg.QueueURL, cfg.Subscriber, cfg.Deploy.Handle)
	return r, nil
}

func withLogger(log zerolog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			msg.SetContext(log.With().Str("message_id", msg.UUID).Logger().WithContext(msg.Context()))
			return h(msg)
		}
	}
}

// ensureCorrelationID gives a request without one its message's ID, the
// same on every redelivery.
func ensureCorrelationID(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if msg.Metadata.Get(MetaCorrelationID) == "" {
			msg.Metadata.Set(MetaCorrelationID, msg.UUID)
		}
		return h(msg)
	}
}
