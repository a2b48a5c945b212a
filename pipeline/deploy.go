package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"ecs-deploy/events"
)

// deploy runs the deploy, resume and start-over modes.
func (r *run) deploy(ctx context.Context) (Status, error) {
	// A look without the lock answers a repeated request at once.
	if prev, ok, err := r.p.cfg.Locker.Status(ctx, r.key); err == nil && ok {
		if st, answer, ok := prev.answerFor(r.req.DeployID); ok {
			return st, answer
		}
	}
	// The artifact and the gate are checked before the lock is taken.
	named := r.req.Artifact.SHA != "" || r.req.Artifact.Build > 0
	var art Artifact
	if named {
		a, err := r.findArtifact(ctx)
		if err != nil {
			return Status{}, err
		}
		art = a
	}

	// Step 1: the lock. What to do is decided from the status found under
	// it, which no other deploy can change any more.
	if err := r.hook(BeforeStep, StepLock); err != nil {
		return Status{}, err
	}
	prev, hasPrev, err := r.acquire(ctx, 0)
	if err != nil {
		return Status{}, err
	}
	if err := r.hook(AfterStep, StepLock); err != nil {
		return r.crash(err)
	}
	unfinished := hasPrev && !prev.Finished()
	if st, answer, ok := prev.answerFor(r.req.DeployID); hasPrev && ok {
		return r.answerAgain(ctx, st, answer)
	}
	switch {
	case unfinished && prev.Mode == ModeAbort && (r.req.Mode == ModeResume || prev.DeployID == r.req.DeployID):
		// An abort under way is finished, never turned back into the
		// deploy it closes.
		return r.finishAbort(ctx, prev)
	case unfinished && (r.req.Mode == ModeResume || prev.DeployID == r.req.DeployID):
		if r.req.ConfigSHA != "" && r.req.ConfigSHA != prev.ConfigSHA && !prev.RollingBack {
			return r.refuse(ctx, prev, fmt.Errorf("resume of deploy %s names config %s, but the deploy runs with config %s: resume with config %s, or start-over with the new one",
				prev.DeployID, r.req.ConfigSHA, prev.ConfigSHA, prev.ConfigSHA))
		}
		r.st = prev
		if !prev.RollingBack {
			r.st.Mode = ModeResume
		}
		r.st.CorrelationID = cmp.Or(r.req.CorrelationID, prev.CorrelationID)
	case unfinished && r.req.Mode == ModeDeploy:
		return r.refuse(ctx, prev, fmt.Errorf("%w: %s %s of %s stopped at step %d (%s) in state %s%s; send resume or start-over",
			ErrUnfinished, prev.Mode, prev.DeployID, r.key, prev.Step, stepName(prev.Step), prev.State, rollingBackNote(prev)))
	case !named || r.req.ConfigSHA == "":
		// A resume with nothing unfinished and no artifact to start with.
		return r.refuse(ctx, prev, fmt.Errorf("%w: the last deploy of %s finished", ErrNothingToResume, r.key))
	default:
		if r.req.Mode == ModeResume {
			// The deploy to resume never took the lock: start it.
			r.log.Info().Msg("nothing unfinished to resume; starting the deploy")
		}
		r.st = Status{DeployID: r.req.DeployID, App: r.req.App, Env: r.req.Env, Mode: r.req.Mode, Step: StepLock,
			Artifact: art, ConfigSHA: r.req.ConfigSHA, RequestedBy: r.req.RequestedBy, CorrelationID: r.req.CorrelationID,
			SkipCommands: r.req.SkipCommands, Ended: prev.endedSoFar()}
		r.prev = prev
	}
	if r.st.RollingBack {
		// A rollback under way continues towards its goal.
		if err := r.begin(ctx, "continue the rollback to the previous task set"); err != nil {
			return r.fail(ctx, r.st.Step, err)
		}
		return r.rollBack(ctx)
	}
	first := max(r.st.Step, StepPreDeploy)
	if r.st.Version >= 2 && !r.st.CommandsOpen && !r.st.SkipCommands && len(r.app.PreDeployCommandTemplates) > 0 {
		// The post-deploy commands closed the failed try: open again.
		first = StepPreDeploy
	}
	if err := r.begin(ctx, fmt.Sprintf("%s of build %d (%s) to %s", r.st.Mode, r.st.Artifact.BuildNumber, r.st.Artifact.Value, r.req.Env)); err != nil {
		return r.fail(ctx, StepLock, err)
	}
	r.watchStop(&ctx)
	return r.steps(ctx, first)
}

func rollingBackNote(s Status) string {
	if s.RollingBack {
		return ", rolling back"
	}
	return ""
}

func (r *run) findArtifact(ctx context.Context) (Artifact, error) {
	a, err := r.p.cfg.ArtifactDB.FindArtifact(ctx, r.app.ArtifactDBProjectName, r.req.Artifact)
	if err != nil {
		if errors.Is(err, ErrArtifactNotFound) {
			return Artifact{}, permanentError{fmt.Errorf("artifact %s of project %s: %w", r.req.Artifact, r.app.ArtifactDBProjectName, err)}
		}
		return Artifact{}, fmt.Errorf("artifact %s of project %s: %w", r.req.Artifact, r.app.ArtifactDBProjectName, err)
	}
	if err := checkGate(a, r.env, r.req.ConfigSHA); err != nil {
		return Artifact{}, permanentError{err}
	}
	return a, nil
}

// watchStop makes a stop request for this run (from a rollback or an
// abort) end *ctx with ErrPreempted: the deploy stops at its next safe
// point and releases the lock. A lost lock ends it with ErrLockLost: its
// commands are stopped and it writes nothing more.
func (r *run) watchStop(ctx *context.Context) {
	c, cancel := context.WithCancelCause(*ctx)
	*ctx = c
	r.lock.OnStopRequest(func(sr StopRequest) {
		r.log.Warn().Str("by", sr.By).Str("mode", string(sr.Mode)).Msg("asked to stop")
		cancel(fmt.Errorf("%w: %s %s", ErrPreempted, sr.Mode, sr.By))
	})
	r.lock.OnLost(func(err error) { cancel(err) })
}

// stop ends the run at a safe point because its context ended: for a
// shutdown, interrupted and resumable on any daemon; for a rollback or an
// abort that asked it to stop, failed, so the request that asked decides
// what happens next; for a lost lock, failed without a further write.
func (r *run) stop(ctx context.Context, step int) (Status, error) {
	if cause := context.Cause(ctx); errors.Is(cause, ErrPreempted) || errors.Is(cause, ErrLockLost) {
		return r.fail(ctx, step, cause)
	}
	return r.interrupted(ctx, step)
}

// rollBackError is a problem found after the swap that calls for a rollback.
type rollBackError struct{ problem string }

func (e rollBackError) Error() string { return e.problem }

// steps runs steps from first to 12; on a resume past step 3, step 3's
// reading of the load balancer is done again first, unrecorded.
func (r *run) steps(ctx context.Context, first int) (Status, error) {
	var view *albView
	for step := StepPreDeploy; step <= StepPostDeploy; step++ {
		if step < first {
			if step == StepReadColour {
				// A resume past step 3 still needs the view it reads.
				v, err := r.readColour(ctx)
				if err != nil {
					return r.fail(ctx, step, err)
				}
				view = v
				if first == StepSwap && v.serving != r.st.NewColour {
					// The swap has not happened: verify again first.
					first = StepVerify
				}
			}
			continue
		}
		// A safe point: never between the swap and the primary update, which
		// run to the end once the swap has begun.
		if ctx.Err() != nil && step != StepPrimary {
			return r.stop(ctx, step)
		}
		stepCtx := ctx
		if step == StepSwap || step == StepPrimary {
			stepCtx = context.WithoutCancel(ctx)
		}
		r.st.Step = step
		if err := r.save(stepCtx); err != nil {
			return r.fail(ctx, step, err)
		}
		if err := r.hook(BeforeStep, step); err != nil {
			return r.crash(err)
		}
		r.emit(stepCtx, events.StepStarted, step, "", nil)
		err := r.runStep(stepCtx, step, &view)
		if err == nil {
			if err := r.hook(AfterStep, step); err != nil {
				return r.crash(err)
			}
			r.emit(stepCtx, events.StepSucceeded, step, r.stepNote(step), nil)
			switch step {
			case StepPreDeploy:
				r.st.CommandsOpen = true
			case StepPostDeploy:
				r.st.CommandsOpen = false
			}
			continue
		}
		var rb rollBackError
		if errors.As(err, &rb) {
			return r.rollBackAfter(ctx, rb.problem)
		}
		if ctx.Err() != nil && !errors.Is(err, ErrLockLost) {
			return r.stop(ctx, step)
		}
		return r.fail(ctx, step, err)
	}
	// The last check only reads, and runs to its end whatever asks the
	// deploy to stop now: stopped here, a resume would run the post-deploy
	// commands (and, with pre-deploy commands, the whole deploy) again.
	if err := r.confirm(context.WithoutCancel(ctx), r.st.NewColour, r.st.NewTaskSetArn); err != nil {
		return r.fail(ctx, StepPostDeploy, err)
	}
	return r.finish(ctx, StateSucceeded, nil)
}

func (r *run) runStep(ctx context.Context, step int, view **albView) error {
	var err error
	switch step {
	case StepPreDeploy:
		return r.runCommands(ctx, "pre-deploy", r.app.PreDeployCommandTemplates, "")
	case StepReadColour:
		*view, err = r.readColour(ctx)
		return err
	case StepCleanUp:
		return r.cleanUp(ctx, *view)
	case StepTaskDefinition:
		return r.registerTaskDefinition(ctx)
	case StepCreateTaskSet:
		return r.createTaskSet(ctx)
	case StepWaitStable:
		return r.waitStable(ctx)
	case StepVerify:
		return r.verify(ctx)
	case StepSwap:
		return r.swap(ctx)
	case StepPrimary:
		return r.makePrimary(ctx)
	case StepBake:
		return r.bake(ctx)
	case StepPostDeploy:
		return r.runCommands(ctx, "post-deploy", r.app.PostDeployCommandTemplates, r.st.TaskDefinitionArn)
	}
	return fmt.Errorf("no step %d", step)
}

// stepNote says what a step event adds: that commands were skipped.
func (r *run) stepNote(step int) string {
	if r.st.SkipCommands && (step == StepPreDeploy || step == StepPostDeploy) {
		return "skipped: the request asked for no pre- or post-deploy commands"
	}
	return ""
}
