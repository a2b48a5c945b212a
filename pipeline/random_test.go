package pipeline_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/faults"
	"ecs-deploy/pipeline"
)

var (
	seedCount = flag.Int("seeds", 50, "how many seeds TestRandomizedFailures runs")
	firstSeed = flag.Uint64("first-seed", 1, "the first seed TestRandomizedFailures runs")
)

// regressionSeeds are seeds that once failed: they run under their own
// names, whatever -seeds says.
var regressionSeeds = []uint64{}

// TestRandomizedFailures runs seeded sequences of deploys, resumes,
// start-overs, rollbacks and aborts against the emulator. Each operation
// may be killed at a random point, and may meet lost answers, throttling,
// an idle colour whose targets fail, an alarm during the bake, or tasks
// that exit; ECS reads lag changes throughout. After each operation, a
// build a rollback rolled away from must not serve again. At the end, with
// the faults gone, the status says what to send, sending it settles the
// app, and then:
//
//   - the serving rule forwards to healthy targets of the PRIMARY task set;
//   - there was never a moment of downtime;
//   - the next deploy goes through.
//
// A failing seed prints its schedule; add it to regressionSeeds.
// -seeds N runs more; -first-seed S starts elsewhere.
func TestRandomizedFailures(t *testing.T) {
	dynamo := sharedDynalite(t)
	for _, seed := range regressionSeeds {
		t.Run(fmt.Sprintf("regression/seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runSchedule(t, dynamo, seed)
		})
	}
	for seed := *firstSeed; seed < *firstSeed+uint64(*seedCount); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runSchedule(t, dynamo, seed)
		})
	}
}

// step is one operation of a schedule and the faults it meets.
type step struct {
	mode        pipeline.Mode
	build       int
	crashStep   int // 0: no crash
	crashAt     pipeline.HookPoint
	apiFaults   bool
	idleFails   bool
	alarm       bool
	tasksExit   bool
	consistency time.Duration
}

func (s step) String() string {
	var f []string
	if s.crashStep > 0 {
		f = append(f, fmt.Sprintf("crash %s step %d", map[pipeline.HookPoint]string{pipeline.BeforeStep: "before", pipeline.AfterStep: "after"}[s.crashAt], s.crashStep))
	}
	for name, on := range map[string]bool{"api faults": s.apiFaults, "idle colour fails": s.idleFails, "alarm in bake": s.alarm, "tasks exit": s.tasksExit} {
		if on {
			f = append(f, name)
		}
	}
	return fmt.Sprintf("%s build %d [%s]", s.mode, s.build, strings.Join(f, ", "))
}

func schedule(rng *rand.Rand) []step {
	modes := []pipeline.Mode{pipeline.ModeDeploy, pipeline.ModeDeploy, pipeline.ModeDeploy, pipeline.ModeResume, pipeline.ModeResume,
		pipeline.ModeStartOver, pipeline.ModeRollback, pipeline.ModeRollback, pipeline.ModeAbort}
	var out []step
	for i := range 4 + rng.IntN(4) {
		s := step{mode: modes[rng.IntN(len(modes))], build: 2 + i%4}
		if rng.Float64() < 0.3 {
			s.crashStep, s.crashAt = 1+rng.IntN(pipeline.StepPostDeploy), pipeline.HookPoint(rng.IntN(2))
		}
		s.apiFaults = rng.Float64() < 0.4
		s.idleFails = rng.Float64() < 0.15
		s.alarm = rng.Float64() < 0.2
		s.tasksExit = rng.Float64() < 0.1
		out = append(out, s)
	}
	return out
}

func runSchedule(t *testing.T, dynamo string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	delay := time.Duration(rng.IntN(3000)) * time.Millisecond
	b := newBed(t, dynamo, bedOptions{name: fmt.Sprintf("rf%d", seed), consistency: delay, configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms, "BakeTime": "20s", "RolloutTimeout": "2h"})
	}})
	plan := schedule(rng)
	var log []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d, consistency delay %v, schedule:\n  %s", seed, delay, strings.Join(log, "\n  "))
		}
	})
	ctx := testContext(t)
	banned := "" // the task set a rollback rolled away from
	for i, s := range plan {
		idle := map[string]string{"blue": "green", "green": "blue"}[b.endState().serving]
		b.setFaults(s, idle)
		crashed := false
		p := b.pipeline(pipeOptions{owner: fmt.Sprintf("daemon-%d", i), hook: func(point pipeline.HookPoint, n int) error {
			switch {
			case s.alarm && point == pipeline.BeforeStep && n == pipeline.StepBake:
				return b.sim.SetAlarm(b.seeded.Alarms[0], "ALARM", "randomized")
			case !crashed && s.crashStep == n && s.crashAt == point:
				crashed = true
				return errCrash
			}
			return nil
		}})
		req := b.request(fmt.Sprintf("op-%d", i), s.build, s.mode)
		if s.mode != pipeline.ModeDeploy && s.mode != pipeline.ModeStartOver {
			req.Artifact, req.ConfigSHA = pipeline.Selector{}, ""
		}
		st, err := p.Run(ctx, req)
		b.clearFaults()
		log = append(log, fmt.Sprintf("%d: %s -> %s", i, s, outcome(st, err)))
		if errors.Is(err, errCrash) {
			continue
		}
		// A rollback that put the previous task set back bans the one
		// it rolled away from, until a new deploy serves.
		now := b.servingTaskSet()
		switch {
		case st.RollingBack && now == st.PreviousTaskSetArn:
			banned = st.NewTaskSetArn
		case err == nil && !st.RollingBack && st.State == pipeline.StateSucceeded:
			banned = ""
		}
		if banned != "" && now == banned {
			t.Fatalf("after step %d the build a rollback rolled away from serves again: %s", i, now)
		}
	}
	b.settle(&log)
	if _, err := b.pipeline(pipeOptions{owner: "daemon-final"}).Run(ctx, b.request("final", 5, pipeline.ModeDeploy)); err != nil {
		t.Fatalf("the next deploy after the schedule: %v", err)
	}
	b.checkDeployed("final")
}

func outcome(st pipeline.Status, err error) string {
	if err != nil {
		return fmt.Sprintf("%s %s step %d: %v", st.DeployID, st.State, st.Step, err)
	}
	return fmt.Sprintf("%s %s", st.DeployID, st.State)
}

// setFaults makes the emulator misbehave as s says, idle being the colour
// not serving: faults never touch the serving colour's targets.
func (b *bed) setFaults(s step, idle string) {
	b.t.Helper()
	var err error
	if s.apiFaults {
		err = errors.Join(err, b.sim.Faults().Add(faults.Rule{ThrottleRate: 0.1, LoseAnswerRate: 0.03, ErrorRate: 0.02}))
	}
	if s.idleFails {
		err = errors.Join(err, b.sim.FailTargetGroup(b.seeded.TargetGroupArns[idle], true))
	}
	if s.tasksExit {
		err = errors.Join(err, b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit}))
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *bed) clearFaults() {
	b.t.Helper()
	b.sim.Faults().Clear()
	b.sim.ClearTaskSetFaults()
	err := errors.Join(b.sim.FailTargetGroup(b.seeded.TargetGroupArns["blue"], false), b.sim.FailTargetGroup(b.seeded.TargetGroupArns["green"], false),
		b.sim.SetAlarm(b.seeded.Alarms[0], "OK", "cleared"))
	if err != nil {
		b.t.Fatal(err)
	}
}

// servingTaskSet is the PRIMARY task set if it is behind the serving rule.
func (b *bed) servingTaskSet() string {
	es := b.endState()
	for _, ts := range es.taskSets {
		if aws.ToString(ts.Status) == "PRIMARY" && aws.ToString(ts.LoadBalancers[0].TargetGroupArn) == b.seeded.TargetGroupArns[es.serving] {
			return aws.ToString(ts.TaskSetArn)
		}
	}
	return ""
}

// settle sends what the status says to send until the last operation has
// finished: the status must allow the next deploy, or say what it needs.
func (b *bed) settle(log *[]string) {
	b.t.Helper()
	for i := range 3 {
		st := b.status()
		if st.DeployID == "" || st.Finished() {
			return
		}
		if !strings.Contains(st.Error, "send ") && st.State == pipeline.StateFailed {
			b.t.Fatalf("the status of failed %s does not say what to send: %q", st.DeployID, st.Error)
		}
		if st.RollingBack {
			// As the status says: the rollback finishes once the
			// previous build is healthy again.
			b.waitHealthy(b.seeded.TargetGroupArns[st.PreviousColour], 2)
		}
		req := pipeline.Request{DeployID: fmt.Sprintf("settle-%d", i), App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeResume}
		if i == 2 && !st.RollingBack {
			// The unfinished build may be broken for good: begin again.
			req = b.request(req.DeployID, 4, pipeline.ModeStartOver)
		}
		got, err := b.pipeline(pipeOptions{owner: fmt.Sprintf("settler-%d", i)}).Run(b.ctx(), req)
		*log = append(*log, fmt.Sprintf("settle %d: %s -> %s", i, req.Mode, outcome(got, err)))
	}
	if st := b.status(); !st.Finished() {
		b.t.Fatalf("still unfinished after settling: %+v", st)
	}
}
