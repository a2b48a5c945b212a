package pipeline

import (
	"context"
	"fmt"
	"time"
)

// bake is step 11: for the bake time (at least once) the new target group
// stays healthy and no configured alarm is in ALARM. A problem calls for a
// rollback (a rollBackError): the previous task set serves again.
//
// A check that fails (throttling, a 5xx, HealthUnavailable) is tried again
// at the next poll. The bake completes only with a good check at or after
// its end; when maxPollErrors checks in a row fail after the end, the new
// build cannot be vouched for, and that too calls for a rollback.
func (r *run) bake(ctx context.Context) error {
	clock := r.p.cfg.Clock
	end := clock.Now().Add(time.Duration(r.env.BakeTime))
	failures := 0
	for {
		problem, err := r.bakeCheck(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return err
		case err != nil:
			failures++
			r.log.Warn().Err(err).Int("failures", failures).Msg("bake check failed; trying again")
			if failures >= maxPollErrors && !clock.Now().Before(end) {
				return rollBackError{fmt.Sprintf("the new build could not be checked after the swap (%d checks in a row failed): %v", failures, err)}
			}
		case problem != "":
			return rollBackError{problem}
		case !clock.Now().Before(end):
			return nil
		default:
			failures = 0
		}
		wait := r.p.cfg.BakePoll
		if left := end.Sub(clock.Now()); left > 0 && failures == 0 {
			wait = min(wait, left)
		}
		if err := clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// bakeCheck returns what is wrong with the new task set, or "": a target
// failing its health checks, no healthy target, or an alarm in ALARM.
func (r *run) bakeCheck(ctx context.Context) (string, error) {
	tg := r.env.TargetGroupARNs[r.st.NewColour]
	h, err := r.readHealth(ctx, tg)
	if err != nil {
		return "", err
	}
	if ok, why := h.servingWell(); !ok {
		return fmt.Sprintf("%s target group %s: %s", r.st.NewColour, tg, why), nil
	}
	alarms, err := r.readAlarms(ctx)
	if err != nil {
		return "", err
	}
	for _, a := range alarms {
		if a.state == "ALARM" {
			return fmt.Sprintf("alarm %s is in ALARM: %s", a.name, a.reason), nil
		}
	}
	return "", nil
}
