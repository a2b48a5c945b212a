package slack

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	slackapi "github.com/slack-go/slack"
)

// call runs op, retrying what a retry may fix: 429 after its Retry-After,
// 5xx and connection errors after a doubling backoff, each wait capped at
// MaxWait, at most MaxAttempts tries. The error it returns is redacted.
func (n *Notifier) call(ctx context.Context, what string, op func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		wait, retry := n.retryAfter(err, attempt)
		if !retry || attempt >= n.cfg.MaxAttempts || ctx.Err() != nil {
			if retry && attempt >= n.cfg.MaxAttempts {
				return redact(&gaveUp{attempts: attempt, err: err}, n.secrets)
			}
			return redact(err, n.secrets)
		}
		zerolog.Ctx(ctx).Warn().Err(redact(err, n.secrets)).Str("call", what).Int("attempt", attempt).
			Dur("retry_in", wait).Msg("slack: call failed; retrying")
		if err := n.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// gaveUp says a call kept failing.
type gaveUp struct {
	attempts int
	err      error
}

func (g *gaveUp) Error() string {
	return "gave up after " + strconv.Itoa(g.attempts) + " attempts: " + g.err.Error()
}
func (g *gaveUp) Unwrap() error { return g.err }

// retryAfter says whether err is worth another try, and after how long.
func (n *Notifier) retryAfter(err error, attempt int) (time.Duration, bool) {
	backoff := min(n.cfg.Backoff<<(attempt-1), n.cfg.MaxWait)
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		if rl.RetryAfter <= 0 {
			return backoff, true
		}
		return min(rl.RetryAfter, n.cfg.MaxWait), true
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		return backoff, sc.Code == 429 || sc.Code >= 500
	}
	var ue *url.Error
	if errors.As(err, &ue) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return backoff, true
	}
	return 0, false
}
