package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/rig"
)

// measureConcurrency runs plan.concurrent deploys of different apps at
// once on one daemon (-concurrency set to match), with the emulator
// throttling ECS as AWS does (token buckets per account and region:
// burst 50 and 20 a second for reads, 20 and 1 for
// RegisterTaskDefinition, 20 and 5 for other writes), and compares the
// wall time, send to the last final event, with one deploy's alone.
func measureConcurrency(ctx context.Context, b *bench) error {
	n := b.plan.concurrent
	s, err := b.newStage(ctx, "concurrency", "cc", n, b.plan.concurrentTimings, b.plan.deregistration)
	if err != nil {
		return err
	}
	throttling := &awsim.Throttling{}
	s.Emulator.Sim.SetThrottling(throttling)
	d, err := s.start(ctx, "daemon", "-concurrency", fmt.Sprint(n))
	if err != nil {
		return err
	}
	defer s.stop()
	r := b.rig
	one, err := s.timedDeploy(ctx, "cc1", "cc-alone", 2)
	if err != nil {
		return err
	}
	alone := one.ended.Sub(one.sent)
	s.Emulator.Sim.SetThrottling(throttling) // full buckets, no count
	wait, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	var (
		mu          sync.Mutex
		first, last time.Time
		outcomes    = map[events.Type]int{}
		wg          sync.WaitGroup
		sendErr     error
	)
	for app := range s.Apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "cc-" + app
			sent, err := r.Send(wait, s.Queue, rig.Request(id, app, 3, events.ModeDeploy))
			if err != nil {
				mu.Lock()
				sendErr = err
				mu.Unlock()
				return
			}
			mu.Lock()
			if first.IsZero() || sent.At.Before(first) {
				first = sent.At
			}
			mu.Unlock()
			final, err := r.Events.WaitFor(wait, "the end of "+id, rig.Final(id))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				outcomes["unfinished"]++
				return
			}
			outcomes[final.Type]++
			if final.Time.After(last) {
				last = final.Time
			}
		}()
	}
	wg.Wait()
	if sendErr != nil {
		return sendErr
	}
	rss, err := d.PeakRSS()
	if err != nil {
		return err
	}
	throttled := 0
	for _, c := range s.Emulator.Sim.Throttled() {
		throttled += c
	}
	all := last.Sub(first)
	res := b.results
	note := fmt.Sprintf("%d deploys in %v (%v), one alone in %v", n, all.Round(time.Second), outcomeList(outcomes), alone.Round(time.Second))
	if floor := time.Duration(max(n-20, 0)) * time.Second; floor > 0 {
		note += fmt.Sprintf("; AWS's RegisterTaskDefinition bucket (20, then 1 a second) alone needs %v for %d task definitions", floor, n)
	}
	res.atMost(fmt.Sprintf("concurrency_ratio_%d", n), all.Seconds()/alone.Seconds(), "", 1.25, note)
	res.below(fmt.Sprintf("rss_mb_%d", n), float64(rss)/(1<<20), "MB", 150, "the daemon's peak resident memory (VmHWM)")
	res.atMost(fmt.Sprintf("throttled_%d", n), float64(throttled), "", 0, fmt.Sprintf("ThrottlingExceptions the emulator answered, by action: %v", s.Emulator.Sim.Throttled()))
	if outcomes[events.DeploySucceeded] != n {
		return fmt.Errorf("of %d deploys at once: %v", n, outcomeList(outcomes))
	}
	return nil
}

func outcomeList(m map[events.Type]int) string {
	s := ""
	for _, k := range sortedKeys(m) {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", m[k], k)
	}
	return s
}
