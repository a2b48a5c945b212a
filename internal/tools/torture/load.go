package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/faults"
	"ecs-deploy/internal/rig"
)

// The daemons' settings: the emulator runs 100 times faster than real
// time, so they poll often; a short lease and visibility timeout keep
// the takeovers of killed replicas' deploys quick.
const (
	timeScale  = 100
	visibility = 6 * time.Second
	lease      = 3 * time.Second
)

var daemonArgs = []string{"-concurrency", "8", "-poll", "100ms", "-slow-poll", "200ms", "-bake-poll", "100ms",
	"-lock-lease", lease.String(), "-lock-heartbeat", "500ms", "-visibility-timeout", visibility.String(),
	"-order-window", "200ms", "-sweep-interval", "2s", "-shutdown-timeout", "10s", "-log-level", "info"}

// malformed are the requests broken on purpose, %s being the request ID:
// an unknown field, no environment, cut-off JSON (no ID to read: the
// message ID stands in), an app the config does not know, an unknown mode.
var malformed = []string{
	`{"schema":"ecs-deploy.request/v1","request_id":"%s","app":"t1","env":"prod","build":2,"colour":"red"}`,
	`{"schema":"ecs-deploy.request/v1","request_id":"%s","app":"t1","build":2}`,
	`{"schema":"ecs-deploy.request/v1","request_id":"%s","app":`,
	`{"schema":"ecs-deploy.request/v1","request_id":"%s","app":"nowhere","env":"prod","build":2}`,
	`{"schema":"ecs-deploy.request/v1","request_id":"%s","app":"t1","env":"prod","build":2,"mode":"explode"}`,
}

// run is one torture run's moving parts.
type tortureRun struct {
	rig   *rig.Rig
	stage *rig.Stage
	plan  plan

	mu       sync.Mutex
	sent     []sentMessage
	bodies   map[string]string // well-formed bodies by request ID, for copies
	replicas []*rig.Daemon
	kills    int
	errs     []error
}

// torture runs the load and the faults, then the checks.
func torture(ctx context.Context, r *rig.Rig, p plan) ([]check, error) {
	stage, err := r.NewStage(ctx, rig.StageConfig{Name: "torture", Apps: p.apps, Prefix: "t", TimeScale: timeScale, Visibility: visibility})
	if err != nil {
		return nil, err
	}
	t := &tortureRun{rig: r, stage: stage, plan: p, bodies: map[string]string{}}
	if err := t.injectFaults(); err != nil {
		return nil, err
	}
	for i := 1; i <= p.replicas; i++ {
		d, err := stage.StartDaemon(ctx, fmt.Sprintf("r%d-g1", i), daemonArgs...)
		if err != nil {
			return nil, err
		}
		t.replicas = append(t.replicas, d)
	}
	r.Logf("torture: %d requests for %d apps over %v, %d replicas, one killed every %v", p.requests, p.apps, p.sendFor, p.replicas, p.killEvery)
	load, stopLoad := context.WithTimeout(ctx, p.deadline)
	defer stopLoad()
	var wg sync.WaitGroup
	wg.Add(2)
	sendDone := make(chan struct{})
	go func() { defer wg.Done(); defer close(sendDone); t.send(load) }()
	killCtx, stopKilling := context.WithCancel(load)
	go func() { defer wg.Done(); t.kill(killCtx) }()
	finished := t.waitForOutcomes(load, sendDone)
	stopKilling()
	wg.Wait()
	if !finished {
		r.Logf("torture: the load did not finish within %v", p.deadline)
	}
	if err := stage.Stop(30 * time.Second); err != nil {
		t.fail(fmt.Errorf("stop the replicas: %w", err))
	}
	t.clearFaults()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	checks, err := t.check(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	r.Logf("torture: %d replicas killed with SIGKILL and started again", t.kills)
	if len(t.errs) > 0 {
		return checks, t.errs[0]
	}
	return checks, err
}

// injectFaults: 10% throttling and 2% errors (HTTP 500) on ECS and
// ELBv2 at their fronts; 2% errors on DynamoDB, every call 5 ms late and
// reads 20 ms; ECS reads lagging changes by up to 2 simulated seconds in
// the emulator.
func (t *tortureRun) injectFaults() error {
	em := t.stage.Emulator
	for _, in := range []*faults.Injector{em.ECSFaults, em.ELBFaults} {
		if err := in.Add(faults.Rule{ThrottleRate: 0.10, ErrorRate: 0.02}); err != nil {
			return err
		}
	}
	for _, r := range []faults.Rule{{ErrorRate: 0.02, Latency: 5 * time.Millisecond}, {Operation: "GetItem", Latency: 20 * time.Millisecond}} {
		if err := t.rig.DynamoDBFaults.Add(r); err != nil {
			return err
		}
	}
	return em.Sim.SetConsistency(awsim.Consistency{Delay: 2 * time.Second, Seed: 7})
}

func (t *tortureRun) clearFaults() {
	em := t.stage.Emulator
	em.ECSFaults.Clear()
	em.ELBFaults.Clear()
	t.rig.DynamoDBFaults.Clear()
	_ = em.Sim.SetConsistency(awsim.Consistency{})
}

func (t *tortureRun) fail(err error) {
	t.mu.Lock()
	t.errs = append(t.errs, err)
	t.mu.Unlock()
}

// send sends the requests evenly over plan.sendFor, for each app in
// turn: about one in fifty malformed, one in thirty a copy of one sent a
// moment before, one in twenty a rollback (once the app has had two
// deploys sent), the rest deploys of each app's builds in turn. The draws
// are seeded. Like an operator, it sends start-over rather than deploy
// for an app whose last outcome says a deploy stopped unfinished.
func (t *tortureRun) send(ctx context.Context) {
	p := t.plan
	rng := rand.New(rand.NewPCG(5, 5))
	tick := time.NewTicker(p.sendFor / time.Duration(p.requests))
	defer tick.Stop()
	builds := map[string]int{}
	blocked := map[string]bool{}
	seen := 0
	for i := range p.requests {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var fresh []rig.Published
		fresh, seen = t.rig.Events.Since(seen)
		for _, e := range fresh {
			switch {
			case e.Type == events.DeploySucceeded || e.Type == events.DeployRolledBack:
				blocked[e.App] = false
			case e.Type == events.DeployFailed || (e.Type == events.DeployRejected && strings.Contains(e.Error, "unfinished")):
				blocked[e.App] = true
			}
		}
		app := t.stage.AppNames[i%p.apps]
		id := fmt.Sprintf("t-%04d", i)
		m := sentMessage{requestID: id}
		var body string
		t.mu.Lock()
		orig, copyOK := t.bodies[fmt.Sprintf("t-%04d", i-p.apps)]
		t.mu.Unlock()
		switch x := rng.Float64(); {
		case x < 0.02:
			kind := rng.IntN(len(malformed))
			body = fmt.Sprintf(malformed[kind], id)
			m.malformed = true
		case x < 0.055 && copyOK:
			body, m.requestID, m.copyOf = orig, fmt.Sprintf("t-%04d", i-p.apps), true
		default:
			req := rig.Request(id, app, 0, events.ModeRollback)
			if x >= 0.105 || builds[app] < 2 {
				builds[app]++
				mode := events.ModeDeploy
				if blocked[app] {
					mode = events.ModeStartOver
				}
				req = rig.Request(id, app, builds[app]%rig.Builds+1, mode)
			}
			b, _ := json.Marshal(req)
			body = string(b)
			t.mu.Lock()
			t.bodies[id] = body
			t.mu.Unlock()
		}
		sent, err := t.rig.SendRaw(ctx, t.stage.Queue, body, m.requestID)
		if err != nil {
			t.fail(err)
			return
		}
		m.messageID = sent.MessageID
		if m.malformed && !json.Valid([]byte(body)) {
			// No request ID to read: the daemon names it by its message ID.
			m.requestID = sent.MessageID
		}
		t.mu.Lock()
		t.sent = append(t.sent, m)
		t.mu.Unlock()
	}
}

// kill kills one replica with SIGKILL every plan.killEvery, in turn, and
// starts it again at once, until ctx ends.
func (t *tortureRun) kill(ctx context.Context) {
	tick := time.NewTicker(t.plan.killEvery)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		i := n % len(t.replicas)
		t.replicas[i].Kill()
		d, err := t.stage.StartDaemon(ctx, fmt.Sprintf("r%d-g%d", i+1, n/len(t.replicas)+2), daemonArgs...)
		if err != nil {
			if ctx.Err() == nil {
				t.fail(fmt.Errorf("restart replica %d: %w", i+1, err))
			}
			return
		}
		t.mu.Lock()
		t.replicas[i] = d
		t.kills++
		t.mu.Unlock()
	}
}

// waitForOutcomes waits until every request sent has a final event, once
// all are sent; it says whether they all do before ctx ends.
func (t *tortureRun) waitForOutcomes(ctx context.Context, sendDone <-chan struct{}) bool {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		final := map[string]bool{}
		for _, p := range t.rig.Events.All() {
			if p.Type.Final() {
				final[p.DeployID] = true
			}
		}
		t.mu.Lock()
		open, sent := 0, len(t.sent)
		for _, m := range t.sent {
			if !final[m.requestID] {
				open++
			}
		}
		kills := t.kills
		t.mu.Unlock()
		select {
		case <-sendDone:
			if open == 0 {
				t.rig.Logf("torture: all %d messages sent have an outcome", sent)
				return true
			}
		default:
		}
		if time.Since(last) >= 10*time.Second {
			last = time.Now()
			t.rig.Logf("torture: %d/%d sent, %d without an outcome yet, %d kills", sent, t.plan.requests, open, kills)
		}
	}
}
