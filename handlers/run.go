package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/pipeline"
)

// run carries a loaded request through the pipeline: a plan at once; a
// deploy, resume, start-over, rollback or abort when its turn at the lock
// comes (waitTurn), in one of Concurrency slots. Its message stays
// invisible meanwhile.
func (h *Deploy) run(in *incoming, j *job) (out outcome) {
	stopHiding := h.keepInvisible(in)
	defer func() {
		if out.final != nil || out.again != nil || out.reject != nil {
			// The answer publishes and records the outcome, which may take
			// SNS's many tries: the message stays hidden until then.
			out.stopHiding = stopHiding
			return
		}
		stopHiding()
	}()
	if j.req.EffectiveMode() == events.ModePlan {
		release, ok := h.takeSlot()
		if !ok {
			return h.leaveForLater(in, j, stopHiding)
		}
		defer release()
		return h.plan(in, j)
	}
	w := h.newWaiter(in, j)
	defer w.done()
	for {
		if err := w.waitTurn(); err != nil {
			if errors.Is(err, errStopping) {
				// Keep the place: the next daemon to receive the message
				// takes it again.
				return h.leaveForLater(in, j, stopHiding)
			}
			w.leave()
			return j.outcomeOf(err)
		}
		if again := h.endedMeanwhile(in, j); again != nil {
			w.leave()
			return *again
		}
		if longest, _ := h.longestRun(j.appEnv()); time.Since(in.received)+longest > maxInvisible {
			// Waiting used up too much of the 12 hours: a new receipt of
			// the message starts them again.
			zerolog.Ctx(in.ctx).Info().Msg("releasing the message for a new receipt: the deploy could outlast its visibility")
			return h.leaveForLater(in, j, stopHiding)
		}
		release, ok := h.takeSlot()
		if !ok {
			return h.leaveForLater(in, j, stopHiding)
		}
		out, again := h.runPipeline(in, j, stopHiding)
		release()
		if !again {
			if !out.left {
				w.leave()
			}
			return out
		}
		// Another request took the lock first: wait again.
	}
}

func (j *job) appEnv() (*pipeline.AppConfig, *pipeline.EnvConfig) {
	app, env, _ := j.cfg.Target(j.req.App, j.req.Env)
	return app, env
}

// endedMeanwhile reads the request's record again once its turn has come:
// a copy of the message (a send retried, a redelivery) may have run the
// request to its end while this one waited. It is then a duplicate of a
// finished request, answered with its final event; running it again would
// put back a build that later requests have replaced. A record that cannot
// be read leaves it to the pipeline, which answers a request whose
// deploy's status is still the lock's.
func (h *Deploy) endedMeanwhile(in *incoming, j *job) *outcome {
	rec, ok, err := h.Records.Get(in.ctx, j.req.RequestID)
	if err != nil {
		zerolog.Ctx(in.ctx).Warn().Err(err).Msg("read the request's record before it runs")
		return nil
	}
	if !ok || !rec.Done() || rec.Rejected() || rec.Hash != j.rec.Hash {
		return nil
	}
	return &outcome{kind: "duplicate", again: &rec}
}

// takeSlot waits for one of the Concurrency slots; ok is false when the
// daemon stops first.
func (h *Deploy) takeSlot() (release func(), ok bool) {
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots }, true
	case <-h.stop:
		return nil, false
	}
}

// leaveForLater makes the message visible at once, for any daemon.
func (h *Deploy) leaveForLater(in *incoming, j *job, stopHiding func()) outcome {
	stopHiding()
	if err := h.Visibility.Set(context.WithoutCancel(in.ctx), in.msg, 0); err != nil {
		zerolog.Ctx(in.ctx).Warn().Err(err).Msg("release the message")
	}
	return outcome{kind: "interrupted", job: j, left: true}
}

// plan answers a plan request: what a deploy would do.
func (h *Deploy) plan(in *incoming, j *job) outcome {
	p, err := h.newPipeline(j, h.Events)
	if err != nil {
		return failed(err)
	}
	ctx, cancel := h.runContext(in.ctx)
	defer cancel()
	plan, err := p.Plan(ctx, h.pipelineRequest(in, j))
	if err != nil {
		if pipeline.Permanent(err) {
			return outcome{kind: "rejected", job: j, reject: err}
		}
		return j.outcomeOf(err)
	}
	final := h.event(in, j, events.DeploySucceeded, plan.String(), nil)
	return outcome{kind: "planned", job: j, final: &final}
}

func (h *Deploy) newPipeline(j *job, sink pipeline.Sink) (*pipeline.Pipeline, error) {
	pc := h.Pipeline
	pc.Deploy, pc.Events = j.cfg, sink
	return pipeline.New(pc)
}

func (h *Deploy) pipelineRequest(in *incoming, j *job) pipeline.Request {
	r := j.req
	return pipeline.Request{DeployID: r.RequestID, App: r.App, Env: r.Env, ConfigSHA: j.configSHA,
		Artifact: pipeline.Selector{SHA: r.SHA, Build: r.Build}, Mode: pipeline.Mode(r.EffectiveMode()),
		RequestedBy: r.RequestedBy, Reason: r.Reason, CorrelationID: in.correlationID, SkipCommands: r.SkipCommands}
}

// runContext ends when the daemon stops.
func (h *Deploy) runContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// runPipeline runs the request and maps how it ended. again says the lock
// was taken by another request first: the request waits again.
func (h *Deploy) runPipeline(in *incoming, j *job, stopHiding func()) (out outcome, again bool) {
	sink := &finalSink{next: h.Events, deployID: j.req.RequestID, project: j.project, requestedBy: j.req.RequestedBy}
	p, err := h.newPipeline(j, sink)
	if err != nil {
		return failed(err), false
	}
	ctx, cancel := h.runContext(in.ctx)
	defer cancel()
	st, err := p.Run(ctx, h.pipelineRequest(in, j))
	switch {
	case errors.Is(err, pipeline.ErrLockHeld):
		zerolog.Ctx(in.ctx).Info().Err(err).Msg("the lock was taken first; waiting again")
		return outcome{}, true
	case errors.Is(err, pipeline.ErrInterrupted):
		// Stopped at a safe point for a shutdown: another daemon resumes.
		return h.leaveForLater(in, j, stopHiding), false
	}
	if final, ok := sink.final(); ok {
		return outcome{kind: string(final.Type), job: j, final: &final}, false
	}
	switch {
	case err == nil || errors.Is(err, pipeline.ErrRolledBack):
		// The operation had already ended: another copy of this request
		// ran it. Tell its outcome again.
		return h.endedBefore(in, j, st, err), false
	case errors.Is(err, pipeline.ErrPreempted):
		// Final: a rollback or an abort stopped it. Never resumed by itself.
		final := h.event(in, j, events.DeployFailed, "stopped for another request", err)
		return outcome{kind: string(final.Type), job: j, final: &final}, false
	case pipeline.Permanent(err):
		return outcome{kind: "rejected", job: j, reject: err}, false
	}
	return j.outcomeOf(err), false
}

// endedBefore answers a request whose operation had ended already: with the
// final event recorded for it, or one made from the deploy's status and the
// pipeline's answer (ErrRolledBack when a rollback undid it: the status is
// then the rollback's).
func (h *Deploy) endedBefore(in *incoming, j *job, st pipeline.Status, answer error) outcome {
	if rec, ok, err := h.Records.Get(in.ctx, j.req.RequestID); err == nil && ok && rec.Done() {
		return outcome{kind: "duplicate", again: &rec}
	}
	final := h.event(in, j, events.DeploySucceeded, fmt.Sprintf("%s %s had already ended: %s", st.Mode, st.DeployID, st.State), nil)
	switch {
	case errors.Is(answer, pipeline.ErrRolledBack):
		final = h.event(in, j, events.DeployRolledBack, "already rolled back", answer)
	case st.State == pipeline.StateRolledBack:
		final = h.event(in, j, events.DeployRolledBack, "already rolled back", errors.New(st.Error))
	}
	return outcome{kind: "duplicate", job: j, final: &final}
}
