package pipeline

import (
	"context"
	"fmt"
	"time"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// maxPollErrors is how many polls in a row may fail (after the SDK's own
// retries) before a wait gives up.
const maxPollErrors = 5

// maxPollBackoff bounds how long a wait backs off after failed polls.
const maxPollBackoff = 30 * time.Second

// poll runs a read-only check every Poll until it says done, tolerating a
// few failed calls in a row, until the timeout.
func (r *run) poll(ctx context.Context, timeout time.Duration, what string, check func() (bool, error)) error {
	return r.pollEvery(ctx, timeout, what, func() time.Duration { return r.p.cfg.Poll }, check)
}

// pollEvery is poll with the wait before each next check chosen by interval.
func (r *run) pollEvery(ctx context.Context, timeout time.Duration, what string, interval func() time.Duration, check func() (bool, error)) error {
	clock := r.p.cfg.Clock
	deadline := clock.Now().Add(timeout)
	failures := 0
	for {
		done, err := check()
		switch {
		case err != nil && isPermanentPoll(err):
			return err
		case err != nil:
			failures++
			if failures >= maxPollErrors {
				return fmt.Errorf("waiting for %s: %d calls in a row failed: %w", what, failures, err)
			}
			r.log.Warn().Err(err).Str("waiting_for", what).Msg("poll failed; trying again")
		case done:
			return nil
		default:
			failures = 0
		}
		if clock.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: timed out after %v", what, timeout)
		}
		// After failed polls (throttling, say) wait longer each time.
		wait := interval()
		for range failures {
			wait = min(2*wait, maxPollBackoff)
		}
		if err := clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// failFast marks a check's verdict that waiting longer cannot change.
type failFast struct{ error }

func (e failFast) Unwrap() error { return e.error }

func isPermanentPoll(err error) bool {
	_, ok := err.(failFast)
	return ok
}

// waitTaskSet polls a task set until done says yes (true) or the task set
// is gone (false).
func (r *run) waitTaskSet(ctx context.Context, arn string, timeout time.Duration, what string, done func(ecstypes.TaskSet) bool) (bool, error) {
	found := true
	err := r.poll(ctx, timeout, what, func() (bool, error) {
		ts, ok, err := r.describeTaskSet(ctx, arn)
		if err != nil || !ok {
			found = ok
			return !ok && err == nil, err
		}
		return done(ts), nil
	})
	return found, err
}
