package main

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/rig"
)

// jitter moves the emulator's clock ahead by a random fraction of a
// second whenever one of the stage's deploys starts a step that waits for
// it (4, 7): the emulator's rollouts last whole seconds, and the
// pipeline polls every whole second from the step's start, so without
// it every deploy would notice each state change just as it happened.
// With it, a change falls anywhere between two polls, as on AWS.
//
// It keeps each jump, so emulator times convert back to the wall clock
// (real).
type jitter struct {
	sim    *awsim.Server
	prefix string
	rng    *rand.Rand

	mu    sync.Mutex
	jumps []jump
}

type jump struct {
	at time.Time
	d  time.Duration
}

func newJitter(sim *awsim.Server, deployPrefix string, seed uint64) *jitter {
	return &jitter{sim: sim, prefix: deployPrefix, rng: rand.New(rand.NewPCG(seed, seed))}
}

// run jumps for the tap's events until ctx ends.
func (j *jitter) run(ctx context.Context, tap *rig.EventTap) {
	_, next := tap.Since(1 << 62)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var fresh []rig.Published
		fresh, next = tap.Since(next)
		for _, e := range fresh {
			if e.Type == events.StepStarted && (e.Step == 4 || e.Step == 7) && strings.HasPrefix(e.DeployID, j.prefix) {
				j.advance(time.Duration(j.rng.Int64N(int64(time.Second))))
			}
		}
	}
}

func (j *jitter) advance(d time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.jumps = append(j.jumps, jump{at: time.Now(), d: d})
	j.sim.Advance(d)
}

// real converts an emulator time to the wall clock. The emulator runs at
// scale 1 from the wall clock's time, so its time is the wall clock's
// plus the jumps so far; a time inside a jump happened at the jump.
func (j *jitter) real(sim time.Time) time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return realTime(j.jumps, sim)
}

func realTime(jumps []jump, sim time.Time) time.Time {
	var ahead time.Duration
	for _, jp := range jumps {
		before := jp.at.Add(ahead)
		switch {
		case sim.Before(before):
			return sim.Add(-ahead)
		case sim.Before(before.Add(jp.d)):
			return jp.at
		}
		ahead += jp.d
	}
	return sim.Add(-ahead)
}
