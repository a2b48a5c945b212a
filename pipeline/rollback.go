package pipeline

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"ecs-deploy/events"
)

// rollbackMode re-serves the task set still running behind the idle
// colour, under the lock: the priorities swap back and it is PRIMARY again.
// It creates nothing, so it takes seconds.
func (r *run) rollbackMode(ctx context.Context) (Status, error) {
	lk, prev, _, err := r.p.cfg.Locker.Acquire(ctx, r.key)
	if err != nil {
		return Status{}, err
	}
	r.lock = lk
	if prev.DeployID == r.req.DeployID && prev.Finished() {
		if err := lk.Release(ctx, prev); err != nil {
			return Status{}, err
		}
		return prev, nil
	}
	r.st = Status{DeployID: r.req.DeployID, App: r.req.App, Env: r.req.Env, Mode: ModeRollback, Step: StepLock, State: StateRunning,
		RequestedBy: r.req.RequestedBy, CorrelationID: r.req.CorrelationID, Artifact: prev.Artifact, ConfigSHA: prev.ConfigSHA}
	if err := r.save(ctx); err != nil {
		return r.fail(ctx, StepLock, err)
	}
	r.emit(ctx, events.DeployStarted, 0, "rollback to the previous task set", nil)

	_, serving, err := r.readRules(ctx)
	if err != nil {
		return r.fail(ctx, StepReadColour, err)
	}
	sets, err := r.listTaskSets(ctx)
	if err != nil {
		return r.fail(ctx, StepReadColour, err)
	}
	idle := otherColour(serving)
	idleTG := r.env.TargetGroupARNs[idle]
	r.st.PreviousColour, r.st.NewColour = serving, idle
	for _, ts := range sets {
		status := aws.ToString(ts.Status)
		if status == "DRAINING" {
			continue
		}
		if onTargetGroup(ts, idleTG) && ts.RunningCount > 0 && r.st.NewTaskSetArn == "" {
			r.st.NewTaskSetArn = aws.ToString(ts.TaskSetArn)
		}
		if onTargetGroup(ts, r.env.TargetGroupARNs[serving]) && (status == "PRIMARY" || r.st.PreviousTaskSetArn == "") {
			r.st.PreviousTaskSetArn = aws.ToString(ts.TaskSetArn)
		}
	}
	if r.st.NewTaskSetArn == "" {
		return r.fail(ctx, StepReadColour, permanentError{fmt.Errorf("nothing to roll back to: no running task set on the %s target group %s", idle, idleTG)})
	}
	for _, step := range []int{StepSwap, StepPrimary} {
		r.st.Step = step
		if err := r.save(ctx); err != nil {
			return r.fail(ctx, step, err)
		}
		r.emit(ctx, events.StepStarted, step, "", nil)
		var err error
		if step == StepSwap {
			var ok bool
			var why string
			if ok, why, err = r.targetsHealthy(ctx, idleTG, 1); err == nil && !ok {
				err = permanentError{fmt.Errorf("the %s target group cannot take traffic: %s", idle, why)}
			}
			if err == nil {
				err = r.serveColour(context.WithoutCancel(ctx), idle)
			}
		} else {
			err = r.setPrimary(context.WithoutCancel(ctx), r.st.NewTaskSetArn)
		}
		if err != nil {
			return r.fail(ctx, step, err)
		}
		r.emit(ctx, events.StepSucceeded, step, "", nil)
	}
	if err := r.confirm(ctx); err != nil {
		return r.fail(ctx, StepPrimary, err)
	}
	return r.finish(ctx, StateSucceeded, nil)
}
