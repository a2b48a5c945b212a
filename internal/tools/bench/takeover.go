package main

import (
	"context"
	"fmt"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/rig"
	"ecs-deploy/pipeline"
)

// measureTakeover runs two daemons on one queue, kills with SIGKILL the
// one running a deploy as the deploy starts waiting for its rollout
// (step 7), and measures how long until the other takes the deploy's next
// step. Its message comes back once its visibility timeout, last renewed
// up to a third of it before the kill, runs out; the other daemon then
// sees the lock unrenewed for a lease and resumes the deploy.
func measureTakeover(ctx context.Context, b *bench) error {
	p := b.plan
	s, err := b.newStage(ctx, "takeover", "tk", 1, p.overheadTimings, p.deregistration)
	if err != nil {
		return err
	}
	visibility, lease := b.defaults.visibility, b.defaults.lease
	for i := 0; i+1 < len(p.takeoverArgs); i += 2 {
		v, err := time.ParseDuration(p.takeoverArgs[i+1])
		switch p.takeoverArgs[i] {
		case "-visibility-timeout":
			visibility = v
		case "-lock-lease":
			lease = v
		}
		if err != nil {
			return err
		}
	}
	if s.Queue, err = b.rig.NewQueue(ctx, "bench-takeover-q", visibility); err != nil {
		return err
	}
	daemons := map[string]*rig.Daemon{}
	for _, name := range []string{"a", "b"} {
		d, err := s.start(ctx, name, p.takeoverArgs...)
		if err != nil {
			return err
		}
		daemons[d.Name] = d
	}
	defer s.stop()
	r := b.rig
	id := "takeover-1"
	if _, err := r.Send(ctx, s.Queue, rig.Request(id, "tk1", 2, events.ModeDeploy)); err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 3*(visibility+lease)+2*time.Minute)
	defer cancel()
	if _, err := r.Events.WaitFor(wait, "step 7 of "+id, func(p rig.Published) bool {
		return p.DeployID == id && p.Type == events.StepStarted && p.Step == pipeline.StepWaitStable
	}); err != nil {
		return err
	}
	lock, err := r.Locks.Peek(ctx, pipeline.LockKey("tk1", rig.Env))
	if err != nil {
		return err
	}
	victim, ok := daemons[lock.Owner]
	if !ok {
		return fmt.Errorf("the lock of tk1 is held by %q, not by a daemon of the run", lock.Owner)
	}
	killed := time.Now()
	victim.Kill()
	next, err := r.Events.WaitFor(wait, "the next step of "+id, func(p rig.Published) bool {
		return p.DeployID == id && (p.Type == events.StepStarted || p.Type == events.DeployStarted) && p.Time.After(killed)
	})
	if err != nil {
		return err
	}
	final, err := r.Events.WaitFor(wait, "the end of "+id, rig.Final(id))
	if err != nil {
		return err
	}
	if final.Type != events.DeploySucceeded {
		return fmt.Errorf("deploy %s after the takeover: %s: %s", id, final.Type, final.Error)
	}
	took := next.Time.Sub(killed)
	what := "deploy.started"
	if next.Type == events.StepStarted {
		what = fmt.Sprintf("step %d", next.Step)
	}
	b.results.atMost("takeover_s", took.Seconds(), "s", (visibility + lease).Seconds(),
		fmt.Sprintf("SIGKILL at step 7 to the other daemon's %s; target: -visibility-timeout %v + -lock-lease %v", what, visibility, lease))
	return nil
}
