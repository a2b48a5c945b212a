package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/events"
	"ecs-deploy/internal/rig"
)

// deployTiming is what one deploy of the overhead run took.
type deployTiming struct {
	id string
	// sent is when the request was sent; started and ended the times of
	// its deploy.started and final events, stamped by the daemon.
	sent, started, ended time.Time
	// rollout is the emulator's time from the new task set's creation to
	// its steady state: every task running, every target healthy.
	rollout time.Duration
	// drain is the emulator's time from the scale-in of the task sets
	// step 4 removed to the stop of their last task (deregistration
	// delay, then stop).
	drain time.Duration
	// steps are the wall times of the steps, from step.started to
	// step.succeeded.
	steps map[int]time.Duration
}

// overhead is the deploy's wall time minus the time the emulator needed.
func (d deployTiming) overhead() time.Duration { return d.ended.Sub(d.started) - d.rollout - d.drain }

// pickup is from the send to deploy.started.
func (d deployTiming) pickup() time.Duration { return d.started.Sub(d.sent) }

// measureOverhead deploys overheadApps apps at once, overheadRounds times
// each, one deploy of an app at a time, on one daemon with its defaults,
// and reports the overhead and the pickup latency of every deploy.
func measureOverhead(ctx context.Context, b *bench) error {
	p := b.plan
	s, err := b.newStage(ctx, "overhead", "ov", p.overheadApps, p.overheadTimings, p.deregistration)
	if err != nil {
		return err
	}
	if _, err := s.start(ctx, "daemon"); err != nil {
		return err
	}
	j := newJitter(s.Emulator.Sim, "ov-", 7)
	s.real = j.real
	jctx, stopJitter := context.WithCancel(ctx)
	defer stopJitter()
	go j.run(jctx, b.rig.Events)
	var (
		mu      sync.Mutex
		timings []deployTiming
		errs    []error
		wg      sync.WaitGroup
	)
	for app := range s.Apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 1; round <= p.overheadRounds; round++ {
				d, err := s.timedDeploy(ctx, app, fmt.Sprintf("ov-%s-%d", app, round), round%rig.Builds+1)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					timings = append(timings, d)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.stop(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errs[0]
	}
	reportOverhead(b.results, timings)
	return nil
}

func reportOverhead(res *results, timings []deployTiming) {
	var over, pick []float64
	stepSum := map[int]time.Duration{}
	var rollout, drain time.Duration
	for _, d := range timings {
		over = append(over, rig.Ms(d.overhead()))
		pick = append(pick, rig.Ms(d.pickup()))
		for step, t := range d.steps {
			stepSum[step] += t
		}
		rollout += d.rollout
		drain += d.drain
	}
	n := time.Duration(max(len(timings), 1))
	// Where the time goes, on average: the steps that waited for the
	// emulator net of its time.
	stepSum[7] -= rollout
	stepSum[4] -= drain
	var worst []string
	for _, step := range []int{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} {
		worst = append(worst, fmt.Sprintf("%d:%d", step, (stepSum[step]/n).Milliseconds()))
	}
	note := fmt.Sprintf("%d deploys; emulator time per deploy %v rollout + %v drain; mean ms by step %v",
		len(timings), (rollout / n).Round(time.Millisecond), (drain / n).Round(time.Millisecond), worst)
	res.below("overhead_ms_p50", rig.Percentile(over, 50), "ms", 1500, note)
	res.info("overhead_ms_p99", rig.Percentile(over, 99), "ms", "")
	res.info("pickup_ms_p50", rig.Percentile(pick, 50), "ms", "enqueue send to deploy.started")
	res.below("pickup_ms_p99", rig.Percentile(pick, 99), "ms", 1000, "")
}

// timedDeploy sends one deploy, waits for its end, and reads from the
// emulator the time it needed.
func (s *stage) timedDeploy(ctx context.Context, app, id string, build int) (deployTiming, error) {
	r := s.bench.rig
	d := deployTiming{id: id, steps: map[int]time.Duration{}}
	sent, err := r.Send(ctx, s.Queue, rig.Request(id, app, build, events.ModeDeploy))
	if err != nil {
		return d, err
	}
	d.sent = sent.At
	wait, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	final, err := r.Events.WaitFor(wait, "the end of "+id, rig.Final(id))
	if err != nil {
		return d, err
	}
	if final.Type != events.DeploySucceeded {
		return d, fmt.Errorf("deploy %s: %s: %s", id, final.Type, final.Error)
	}
	d.ended = final.Time
	started := map[int]time.Time{}
	for _, e := range r.Events.All() {
		if e.DeployID != id {
			continue
		}
		switch e.Type {
		case events.DeployStarted:
			if d.started.IsZero() {
				d.started = e.Time
			}
		case events.StepStarted:
			started[e.Step] = e.Time
		case events.StepSucceeded:
			d.steps[e.Step] += e.Time.Sub(started[e.Step])
		}
	}
	if d.started.IsZero() {
		return d, fmt.Errorf("deploy %s: no deploy.started", id)
	}
	ts, err := s.taskSet(ctx, app, id)
	if err != nil {
		return d, err
	}
	if ts.StabilityStatus != ecstypes.StabilityStatusSteadyState {
		return d, fmt.Errorf("deploy %s: its task set is %s", id, ts.StabilityStatus)
	}
	d.rollout = s.real(aws.ToTime(ts.StabilityStatusAt)).Sub(s.real(aws.ToTime(ts.CreatedAt)))
	tasks, err := s.stoppedTasks(ctx, app)
	if err != nil {
		return d, err
	}
	d.drain = drainTime(tasks, s.real, d.started, d.ended)
	return d, nil
}

// drainTime is the time from the first scale-in within a deploy's span
// to the last of those tasks stopping, on the wall clock.
func drainTime(tasks []ecstypes.Task, real func(time.Time) time.Time, from, to time.Time) time.Duration {
	var first, last time.Time
	for _, t := range tasks {
		if t.StoppingAt == nil || t.StoppedAt == nil {
			continue
		}
		stopping, stopped := real(*t.StoppingAt), real(*t.StoppedAt)
		if stopping.Before(from) || stopping.After(to) {
			continue
		}
		if first.IsZero() || stopping.Before(first) {
			first = stopping
		}
		if stopped.After(last) {
			last = stopped
		}
	}
	return last.Sub(first)
}
