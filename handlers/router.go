package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/rs/zerolog"
)

// Consumer is one queue the router consumes and the handler of its
// messages: the deploy requests, or the events a role reads.
type Consumer struct {
	// Name names the handler in logs ("deploy", "slack", "artifactdb").
	// Required, unique within a router.
	Name string
	// Subscriber delivers the messages of the queue at QueueURL. Required.
	Subscriber message.Subscriber
	QueueURL   string
	// Handler handles one message. An error wrapping ErrRejected sends the
	// message to DeadLetter; other errors are retried (Retryable), then the
	// message is left to come back from the queue. Required.
	Handler message.NoPublishHandlerFunc
	// DeadLetter receives this queue's rejected messages, on DeadLetterURL.
	// Required.
	DeadLetter    message.Publisher
	DeadLetterURL string
	// Retries of a failing message before it is left to the queue.
	// Default 3; negative: none.
	Retries int
	// Visibility, when set, keeps each message invisible while its handler
	// runs, renewed every third of VisibilityTimeout (default 60s). The
	// deploy handler does this itself; the role handlers need it for a
	// Slack that answers slowly.
	Visibility        Visibility
	VisibilityTimeout time.Duration
}

// RouterConfig sets up a router of one or more consumers.
type RouterConfig struct {
	// Consumers are the queues to consume. At least one.
	Consumers []Consumer
	Log       zerolog.Logger
	// CloseTimeout is how long Close waits for running handlers: the
	// daemon's shutdown budget. Default 25s.
	CloseTimeout time.Duration
}

// Validate reports every missing field, naming the consumer.
func (c RouterConfig) Validate() error {
	var errs []error
	if len(c.Consumers) == 0 {
		errs = append(errs, errors.New("handlers.RouterConfig.Consumers is empty"))
	}
	names := map[string]bool{}
	for i, k := range c.Consumers {
		field := fmt.Sprintf("handlers.RouterConfig.Consumers[%d]", i)
		if k.Name == "" {
			errs = append(errs, fmt.Errorf("%s.Name is empty", field))
		} else if names[k.Name] {
			errs = append(errs, fmt.Errorf("%s.Name %q is used twice", field, k.Name))
		}
		names[k.Name] = true
		if k.Subscriber == nil || k.QueueURL == "" {
			errs = append(errs, fmt.Errorf("%s (%s) needs a Subscriber and a QueueURL", field, k.Name))
		}
		if k.Handler == nil {
			errs = append(errs, fmt.Errorf("%s.Handler (%s) is nil", field, k.Name))
		}
		if k.DeadLetter == nil || k.DeadLetterURL == "" {
			errs = append(errs, fmt.Errorf("%s (%s) needs a DeadLetter publisher and a DeadLetterURL", field, k.Name))
		}
	}
	return errors.Join(errs...)
}

// NewRouter returns a router running each consumer's handler under its own
// middleware, outermost first: a logger in the message's context (naming
// the handler), a correlation ID, the poison queue to the consumer's
// dead-letter queue for rejected messages, retries with backoff for
// passing failures, and a recoverer that turns a panic into an error.
func NewRouter(cfg RouterConfig) (*message.Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = 25 * time.Second
	}
	wlog := WatermillLogger{Log: cfg.Log}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, wlog)
	if err != nil {
		return nil, err
	}
	for _, k := range cfg.Consumers {
		log := cfg.Log.With().Str("handler", k.Name).Logger()
		poison, err := middleware.PoisonQueueWithFilter(k.DeadLetter, k.DeadLetterURL, Rejected)
		if err != nil {
			return nil, fmt.Errorf("dead-letter queue of %s: %w", k.Name, err)
		}
		retries := k.Retries
		if retries == 0 {
			retries = 3
		}
		stack := []message.HandlerMiddleware{withLogger(log), ensureCorrelationID}
		if k.Visibility != nil {
			timeout := k.VisibilityTimeout
			if timeout <= 0 {
				timeout = 60 * time.Second
			}
			// Outside the retries: the message stays hidden across them.
			stack = append(stack, keepHidden(k.Visibility, timeout))
		}
		stack = append(stack, poison)
		if retries > 0 {
			stack = append(stack, middleware.Retry{
				MaxRetries: retries, InitialInterval: time.Second, MaxInterval: 10 * time.Second, Multiplier: 2,
				RandomizationFactor: 0.2, Logger: WatermillLogger{Log: log},
				ShouldRetry: func(p middleware.RetryParams) bool { return Retryable(p.Err) },
			}.Middleware)
		}
		stack = append(stack, middleware.Recoverer)
		h := r.AddConsumerHandler(k.Name, k.QueueURL, k.Subscriber, k.Handler)
		h.AddMiddleware(stack...)
	}
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

// keepHidden renews the message's invisibility every third of timeout
// while the rest of the stack handles it, so SQS does not hand it to
// another consumer meanwhile.
func keepHidden(v Visibility, timeout time.Duration) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := context.WithoutCancel(msg.Context())
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.NewTicker(timeout / 3)
				defer t.Stop()
				for {
					select {
					case <-done:
						return
					case <-t.C:
						if err := v.Set(ctx, msg, timeout); err != nil {
							zerolog.Ctx(ctx).Warn().Err(err).Msg("extend message visibility")
						}
					}
				}
			}()
			defer func() {
				close(done)
				wg.Wait()
			}()
			return h(msg)
		}
	}
}
