package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// bake is step 11: for the bake time (at least once) the new target group
// stays healthy and no configured alarm is in ALARM. Otherwise the deploy
// rolls back by itself: the previous task set serves again and is PRIMARY.
func (r *run) bake(ctx context.Context) error {
	clock := r.p.cfg.Clock
	end := clock.Now().Add(time.Duration(r.env.BakeTime))
	want, err := r.newTaskSetSize(ctx)
	if err != nil {
		return err
	}
	for {
		problem, err := r.bakeCheck(ctx, want)
		if err != nil {
			return err
		}
		if problem != "" {
			r.log.Warn().Str("problem", problem).Msg("rolling back")
			if err := r.rollBackTraffic(ctx); err != nil {
				return fmt.Errorf("%s; rollback failed: %w", problem, err)
			}
			return fmt.Errorf("%w: %s", ErrRolledBack, problem)
		}
		if !clock.Now().Before(end) {
			return nil
		}
		if err := clock.Sleep(ctx, min(r.p.cfg.BakePoll, end.Sub(clock.Now()))); err != nil {
			return err
		}
	}
}

// bakeCheck returns what is wrong with the new task set, or "".
func (r *run) bakeCheck(ctx context.Context, want int) (string, error) {
	tg := r.env.TargetGroupARNs[r.st.NewColour]
	ok, why, err := r.targetsHealthy(ctx, tg, want)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("%s target group %s: %s", r.st.NewColour, tg, why), nil
	}
	if len(r.env.AlarmNames) == 0 {
		return "", nil
	}
	out, err := r.aws.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: r.env.AlarmNames})
	if err != nil {
		return "", fmt.Errorf("describe alarms: %w", err)
	}
	for _, a := range out.MetricAlarms {
		if a.StateValue == cwtypes.StateValueAlarm {
			return fmt.Sprintf("alarm %s is in ALARM: %s", aws.ToString(a.AlarmName), aws.ToString(a.StateReason)), nil
		}
	}
	return "", nil
}

// rollBackTraffic sends traffic back to the task set that served before
// this deploy and makes it PRIMARY again; the new one stays ACTIVE.
func (r *run) rollBackTraffic(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	if r.st.PreviousTaskSetArn == "" {
		return errors.New("no task set served before this deploy")
	}
	prevTG := r.env.TargetGroupARNs[r.st.PreviousColour]
	ok, why, err := r.targetsHealthy(ctx, prevTG, 1)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the previous %s target group cannot take traffic: %s", r.st.PreviousColour, why)
	}
	if err := r.serveColour(ctx, r.st.PreviousColour); err != nil {
		return err
	}
	return r.setPrimary(ctx, r.st.PreviousTaskSetArn)
}
