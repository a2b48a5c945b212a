package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"ecs-deploy/events"
)

// preempt runs the rollback and abort modes. Neither waits behind a
// running deploy: it asks the deploy to stop at its next safe point, takes
// the lock once it is released, and decides from the status found under it:
//
//   - a rollback under way (manual or automatic) continues to its goal;
//   - an unfinished deploy that moved traffic is rolled back and closed;
//   - an unfinished deploy that did not move traffic is closed as aborted
//     by an abort, and left for a resume or a start-over by a rollback;
//   - a deploy that succeeded is rolled back, if the task set that served
//     before it still runs;
//   - anything else has nothing to roll back, and nothing changes.
func (r *run) preempt(ctx context.Context) (Status, error) {
	if err := r.hook(BeforeStep, StepLock); err != nil {
		return Status{}, err
	}
	prev, hasPrev, err := r.takeOver(ctx)
	if err != nil {
		return Status{}, err
	}
	if err := r.hook(AfterStep, StepLock); err != nil {
		return r.crash(err)
	}
	op := r.req.Mode
	if st, answer, ok := prev.answerFor(r.req.DeployID); hasPrev && ok {
		return r.answerAgain(ctx, st, answer)
	}
	switch {
	case !prev.Finished() && prev.Mode == ModeAbort:
		return r.finishAbort(ctx, prev)
	case !hasPrev:
		return r.refuse(ctx, prev, fmt.Errorf("%w: %s has never been deployed", ErrNothingToRollBack, r.key))
	case !prev.Finished() && prev.RollingBack:
		return r.continueRollback(ctx, prev)
	case !prev.Finished():
		return r.closeUnfinished(ctx, prev)
	case op == ModeAbort:
		return r.refuse(ctx, prev, fmt.Errorf("%w: nothing to abort: %s %s of %s %s", ErrNothingToRollBack, prev.Mode, prev.DeployID, r.key, prev.State))
	case prev.State != StateSucceeded || prev.RollingBack || prev.Mode == ModeAbort || prev.PreviousTaskSetArn == "":
		return r.refuse(ctx, prev, fmt.Errorf("%w: the last operation on %s was %s %s (%s), which left no earlier task set to go back to; deploy a build instead",
			ErrNothingToRollBack, r.key, prev.Mode, prev.DeployID, prev.State))
	}
	// A deploy that succeeded: its previous task set must still be there.
	ts, found, err := r.describeTaskSet(ctx, prev.PreviousTaskSetArn)
	if err != nil {
		return r.letGo(ctx, err)
	}
	if !found || aws.ToString(ts.Status) == "DRAINING" {
		return r.refuse(ctx, prev, fmt.Errorf("%w: task set %s, which served before deploy %s, is gone", ErrNothingToRollBack, prev.PreviousTaskSetArn, prev.DeployID))
	}
	r.st = r.rollbackOf(prev)
	if err := r.begin(ctx, fmt.Sprintf("roll back deploy %s: %s serves %s again", prev.DeployID, prev.PreviousColour, prev.previous())); err != nil {
		return r.fail(ctx, r.st.Step, err)
	}
	return r.rollBack(ctx)
}

// continueRollback finishes the rollback under way that prev describes, on
// behalf of this request: it succeeds when the rollback does.
func (r *run) continueRollback(ctx context.Context, prev Status) (Status, error) {
	r.st = prev
	r.st.CorrelationID = r.req.CorrelationID
	if err := r.begin(ctx, fmt.Sprintf("continue the rollback of %s under way", prev.DeployID)); err != nil {
		return r.fail(ctx, r.st.Step, err)
	}
	st, err := r.rollBack(ctx)
	if !errors.Is(err, ErrRolledBack) || r.req.DeployID == st.DeployID {
		return st, err
	}
	r.emitFor(ctx, r.req.DeployID, events.DeploySucceeded, 0, fmt.Sprintf("finished the rollback of %s: %s serves %s again", st.DeployID, st.PreviousColour, st.previous()), nil)
	return st, nil
}

// takeOver takes the lock for a rollback or an abort within PreemptWait:
// each round it asks whoever runs on the lock now to stop (a deploy that
// took the lock meanwhile has a run ID of its own), then waits a few
// heartbeats for the lock.
func (r *run) takeOver(ctx context.Context) (Status, bool, error) {
	deadline := time.Now().Add(r.p.cfg.PreemptWait)
	for {
		if err := r.askToStop(ctx); err != nil {
			return Status{}, false, err
		}
		prev, ok, err := r.acquire(ctx, 0)
		if err == nil || !errors.Is(err, ErrLockHeld) || time.Now().After(deadline) {
			return prev, ok, err
		}
	}
}

// askToStop asks the deploy running on the lock, if any, to stop at its
// next safe point. A running rollback is not asked: it runs to its end.
func (r *run) askToStop(ctx context.Context) error {
	it, ok, err := r.p.cfg.Locker.Peek(ctx, r.key)
	if err != nil || !ok || it.Released {
		return err
	}
	st, ok, err := decodeStatus(it.Data)
	if err != nil {
		return permanentError{err}
	}
	if !ok || st.RunID == "" || st.State != StateRunning || st.DeployID == r.req.DeployID || st.RollingBack {
		return nil
	}
	r.log.Info().Str("running_deploy_id", st.DeployID).Int("step", st.Step).Msg("asking the running deploy to stop")
	return r.p.cfg.Locker.RequestStop(ctx, r.key, StopRequest{RunID: st.RunID, By: r.req.DeployID, Mode: r.req.Mode})
}

// closeUnfinished acts on a deploy that did not finish: if traffic moved,
// the previous task set serves again; if not, an abort closes it as it is
// and a rollback refuses, since there is nothing to roll back.
func (r *run) closeUnfinished(ctx context.Context, prev Status) (Status, error) {
	moved := prev.movedTraffic()
	if prev.Step == StepSwap && prev.NewColour != "" {
		_, serving, err := r.readRules(ctx)
		if err != nil {
			return r.letGo(ctx, err)
		}
		moved = serving == prev.NewColour
	}
	if moved {
		if prev.PreviousTaskSetArn == "" {
			return r.refuse(ctx, prev, fmt.Errorf("%w: deploy %s moved traffic, but nothing served before it", ErrNothingToRollBack, prev.DeployID))
		}
		r.st = r.rollbackOf(prev)
		if err := r.begin(ctx, fmt.Sprintf("roll back unfinished deploy %s: %s serves %s again", prev.DeployID, prev.PreviousColour, prev.previous())); err != nil {
			return r.fail(ctx, r.st.Step, err)
		}
		return r.rollBack(ctx)
	}
	if r.req.Mode == ModeRollback {
		return r.refuse(ctx, prev, fmt.Errorf("%w: %s %s stopped at step %d (%s) before moving traffic: resume or start over (or abort it)",
			ErrUnfinished, prev.Mode, prev.DeployID, prev.Step, stepName(prev.Step)))
	}
	abort := prev
	abort.DeployID, abort.Mode, abort.Closes = r.req.DeployID, ModeAbort, prev.DeployID
	abort.Ended = prev.endedSoFar()
	abort.RequestedBy, abort.CorrelationID = r.req.RequestedBy, r.req.CorrelationID
	return r.finishAbort(ctx, abort)
}

// finishAbort closes the deploy an abort closes: its post-deploy commands
// run if its pre-deploy commands did, and the status says aborted. An abort
// that stopped half-way is finished the same way, never resumed as the
// deploy it closes.
func (r *run) finishAbort(ctx context.Context, abort Status) (Status, error) {
	r.st = abort
	if err := r.begin(ctx, "abort deploy "+abort.Closes); err != nil {
		return r.fail(ctx, r.st.Step, err)
	}
	if r.st.CommandsOpen {
		if err := r.closeCommands(ctx); err != nil {
			return r.fail(ctx, r.st.Step, err)
		}
	}
	return r.finish(ctx, StateAborted, fmt.Errorf("aborted deploy %s, stopped at step %d (%s) before moving traffic; what served before still serves",
		abort.Closes, abort.Step, stepName(abort.Step)))
}

// rollbackOf is the status of a new rollback of the deploy prev describes,
// which it closes: a request for that deploy sent again is answered as
// rolled back.
func (r *run) rollbackOf(prev Status) Status {
	st := prev
	st.DeployID, st.Mode, st.Closes, st.RollingBack = r.req.DeployID, r.req.Mode, prev.DeployID, true
	st.Ended = prev.endedSoFar()
	st.State, st.Step, st.Error = StateRunning, StepReadColour, ""
	st.RequestedBy, st.CorrelationID = r.req.RequestedBy, r.req.CorrelationID
	st.SkipCommands = r.req.SkipCommands
	return st
}

// rollBackAfter starts a deploy's own rollback, for a problem found after
// the swap.
func (r *run) rollBackAfter(ctx context.Context, problem string) (Status, error) {
	r.log.Warn().Str("problem", problem).Msg("rolling back")
	r.st.RollingBack, r.st.Error = true, problem
	if err := r.save(ctx); err != nil {
		return r.fail(ctx, r.st.Step, err)
	}
	return r.rollBack(ctx)
}

// rollBack works towards a rollback's goal: the previous task set serves,
// behind its own colour, and is PRIMARY; then the post-deploy commands
// run. Each action looks at AWS first, so a retried or resumed rollback
// does only what is left, and never serves the new task set again.
//
// The swap back and the primary update run to the end once begun; a
// shutdown stops the rollback only before its post-deploy commands.
func (r *run) rollBack(ctx context.Context) (Status, error) {
	if r.st.PreviousTaskSetArn == "" || r.st.PreviousColour == "" {
		return r.fail(ctx, r.st.Step, fmt.Errorf("%w: no task set served before %s", ErrNothingToRollBack, r.st.DeployID))
	}
	for _, step := range []int{StepSwap, StepPrimary, StepPostDeploy} {
		stepCtx := context.WithoutCancel(ctx)
		if step == StepPostDeploy {
			if ctx.Err() != nil {
				return r.interrupted(ctx, step)
			}
			stepCtx = ctx
		}
		r.st.Step = step
		if err := r.save(stepCtx); err != nil {
			return r.fail(ctx, step, err)
		}
		if err := r.hook(BeforeStep, step); err != nil {
			return r.crash(err)
		}
		r.emit(stepCtx, events.StepStarted, step, "rolling back", nil)
		var err error
		switch step {
		case StepSwap:
			err = r.serveColour(stepCtx, r.st.PreviousColour, r.previousReady)
		case StepPrimary:
			err = r.setPrimary(stepCtx, r.st.PreviousTaskSetArn)
		case StepPostDeploy:
			if err = r.confirm(stepCtx, r.st.PreviousColour, r.st.PreviousTaskSetArn); err == nil {
				err = r.closeCommands(stepCtx)
			}
		}
		if err != nil && ctx.Err() != nil && step == StepPostDeploy && !errors.Is(err, ErrLockLost) {
			return r.interrupted(ctx, step)
		}
		if err != nil {
			return r.fail(ctx, step, r.rollbackFailure(ctx, err))
		}
		if err := r.hook(AfterStep, step); err != nil {
			return r.crash(err)
		}
		r.emit(stepCtx, events.StepSucceeded, step, r.stepNote(step), nil)
	}
	if r.st.Mode == ModeRollback || r.st.Mode == ModeAbort {
		return r.finish(ctx, StateSucceeded, nil)
	}
	return r.finish(ctx, StateRolledBack, fmt.Errorf("%w: %s", ErrRolledBack, r.st.Error))
}

// previousReady says whether the previous task set may take traffic back:
// at least its computed desired count of healthy targets.
func (r *run) previousReady(ctx context.Context) (bool, string, error) {
	ts, found, err := r.describeTaskSet(ctx, r.st.PreviousTaskSetArn)
	if err != nil {
		return false, "", err
	}
	if !found || aws.ToString(ts.Status) == "DRAINING" {
		return false, fmt.Sprintf("task set %s is gone", r.st.PreviousTaskSetArn), nil
	}
	h, err := r.readHealth(ctx, r.env.TargetGroupARNs[r.st.PreviousColour])
	if err != nil {
		return false, "", err
	}
	ok, why := h.readyForSome(int(ts.ComputedDesiredCount))
	return ok, why, nil
}

// rollbackFailure adds to a failed rollback the health of both target
// groups and what to send next.
func (r *run) rollbackFailure(ctx context.Context, err error) error {
	var parts []string
	for _, colour := range []string{r.st.PreviousColour, otherColour(r.st.PreviousColour)} {
		tg := r.env.TargetGroupARNs[colour]
		h, herr := r.readHealth(ctx, tg)
		if herr != nil {
			parts = append(parts, fmt.Sprintf("%s target group %s: %v", colour, tg, herr))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s target group %s: %s", colour, tg, h.describe(0)))
	}
	return fmt.Errorf("rollback to %s did not finish: %w; %s; it can finish once %s is healthy",
		r.st.PreviousTaskSetArn, err, strings.Join(parts, "; "), r.st.PreviousColour)
}

// closeCommands runs the post-deploy commands as the close of an operation
// that does not end with the new build serving: they see the task
// definition that serves at the end.
//
// They render the build that serves at the end when it is known
// (PreviousArtifact), else the deploy's own. With nothing serving at all
// there is nothing to render them for: they are skipped, and the log says so.
func (r *run) closeCommands(ctx context.Context) error {
	if r.st.SkipCommands || len(r.app.PostDeployCommandTemplates) == 0 {
		r.st.CommandsOpen = false
		return nil
	}
	td, err := r.servingTaskDefinition(ctx)
	if err != nil {
		return err
	}
	if td == "" {
		r.log.Warn().Msg("no task set serves: the post-deploy commands are skipped")
		r.st.CommandsOpen = false
		return nil
	}
	art := r.st.Artifact
	if r.st.PreviousArtifact != nil {
		art = *r.st.PreviousArtifact
	}
	if err := r.runCommandsFor(ctx, "post-deploy", r.app.PostDeployCommandTemplates, art, td); err != nil {
		return err
	}
	r.st.CommandsOpen = false
	return nil
}

// servingTaskDefinition is the task definition of the task set that served
// before this deploy and serves after its close: PreviousTaskSetArn, or,
// when the deploy stopped before step 3 recorded it, the PRIMARY task set.
// "" when there is none.
func (r *run) servingTaskDefinition(ctx context.Context) (string, error) {
	if r.st.PreviousTaskSetArn != "" {
		ts, found, err := r.describeTaskSet(ctx, r.st.PreviousTaskSetArn)
		switch {
		case err != nil:
			return "", err
		case !found:
			return "", fmt.Errorf("task set %s is gone", r.st.PreviousTaskSetArn)
		}
		return aws.ToString(ts.TaskDefinition), nil
	}
	sets, err := r.listTaskSets(ctx)
	if err != nil {
		return "", err
	}
	for _, ts := range sets {
		if aws.ToString(ts.Status) == "PRIMARY" {
			return aws.ToString(ts.TaskDefinition), nil
		}
	}
	return "", nil
}

// closeFailed runs the post-deploy commands of a deploy that failed before
// moving traffic, if its pre-deploy commands ran. They stop with a
// shutdown; the status then keeps CommandsOpen, and a resume closes them.
func (r *run) closeFailed(step int) error {
	ctx := r.shutdown
	if !r.st.CommandsOpen || r.st.RollingBack || step > StepSwap {
		return nil
	}
	if step == StepSwap {
		_, serving, err := r.readRules(ctx)
		if err != nil || serving == r.st.NewColour {
			return err
		}
	}
	return r.closeCommands(ctx)
}
