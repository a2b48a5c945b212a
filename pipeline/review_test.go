package pipeline_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// TestAbortFinishedNotResumed: an abort whose post-deploy command failed is
// finished by the next resume, as an abort: the deploy it closes is never
// resumed into serving.
func TestAbortFinishedNotResumed(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "post-ran-once")
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withApp(defaultConfig(sd), sd.Name, map[string]any{
			"PreDeployCommandTemplates": []any{map[string]any{"Program": "true"}},
			// Fails the first time, passes after.
			"PostDeployCommandTemplates": []any{map[string]any{"Program": "sh", "Arguments": []any{"-c", "test -e " + marker + " || { touch " + marker + "; exit 1; }"}}},
		})
	}})
	ctx := testContext(t)
	if _, err := b.pipeline(pipeOptions{hook: crashAt(pipeline.BeforeStep, pipeline.StepWaitStable)}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	abort := pipeline.Request{DeployID: "a-1", App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeAbort, RequestedBy: "oncall"}
	if _, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, abort); err == nil {
		t.Fatal("the abort succeeded though its post-deploy command failed")
	}
	if st := b.status(); st.Mode != pipeline.ModeAbort || st.State != pipeline.StateFailed || !strings.Contains(st.Error, "send abort or resume") {
		t.Fatalf("status after the failed close: %+v", st)
	}
	st, err := b.pipeline(pipeOptions{owner: "daemon-c"}).Run(ctx, pipeline.Request{DeployID: "x-1", App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeResume})
	if err != nil || st.State != pipeline.StateAborted || st.Closes != "d-1" {
		t.Fatalf("resume after the failed abort: %v, status %+v", err, st)
	}
	b.servedBySeed()
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the post-deploy command never ran")
	}
}

// TestRedeliveredDeployAfterRollback: a deploy request that comes again
// after a rollback undid its deploy is answered as rolled back; it never
// serves the rolled-back build again.
func TestRedeliveredDeployAfterRollback(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	if _, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx, b.rollback("r-1")); err != nil {
		t.Fatal(err)
	}
	b.sim.ResetCalls()
	_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrRolledBack) || !pipeline.Permanent(err) || !strings.Contains(err.Error(), "deploy d-1 was rolled back by r-1") {
		t.Fatalf("d-1 again: %v", err)
	}
	if got := b.mutatingCalls(); len(got) != 0 {
		t.Fatalf("d-1 again changed %v", got)
	}
	b.servedBySeed()
}

// TestBakeToleratesStartingTargets: a target still starting during the
// bake (a scale-out, a replaced task) is no reason to roll back.
func TestBakeToleratesStartingTargets(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"BakeTime": "10s"})
	}})
	ctx := testContext(t)
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepBake {
			b.registerStray(b.seeded.TargetGroupArns["green"])
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if err != nil {
		t.Fatalf("a starting target during the bake: %v", err)
	}
	b.checkDeployed("d-1")
}

// TestRollbackNeedsDesiredCountHealthy: a rollback needs the previous task
// set's desired count of healthy targets; one of two is not enough.
func TestRollbackNeedsDesiredCountHealthy(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	if _, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	blue := b.seeded.TargetGroupArns["blue"]
	var one string
	for _, d := range b.health(blue) {
		one = *d.Target.Id
		break
	}
	if err := b.sim.SetTargetHealth(blue, false, one); err != nil {
		t.Fatal(err)
	}
	_, err := p.Run(ctx, b.rollback("r-1"))
	if err == nil || !strings.Contains(err.Error(), "swap to blue refused") || !strings.Contains(err.Error(), "1 healthy targets of the 2 needed") {
		t.Fatalf("err = %v, want the rollback refused for one healthy target of two", err)
	}
	b.checkServing("d-1")
}

// TestStaleReadsAtLowTimeScale runs deploys, a manual rollback and an
// automatic one where ECS reads lag changes by up to thirty seconds of a
// slow clock, long enough for every read after a change to be stale: the
// right task set is PRIMARY after each.
func TestStaleReadsAtLowTimeScale(t *testing.T) {
	for seed := range 3 {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			b := newBed(t, sharedDynalite(t), bedOptions{name: fmt.Sprintf("slow%d", seed), timeScale: 20, consistency: 30 * time.Second,
				configJSON: func(sd awsim.Seeded) string {
					return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms})
				}})
			ctx := testContext(t)
			p := b.pipeline(pipeOptions{})
			if _, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
				t.Fatal(err)
			}
			b.checkPrimary(b.taskSetOf("d-1"))
			if _, err := p.Run(ctx, b.rollback("r-1")); err != nil {
				t.Fatal(err)
			}
			b.checkPrimary(b.seeded.PrimaryTaskSetArn)
			_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
				if point == pipeline.BeforeStep && step == pipeline.StepBake {
					return b.sim.SetAlarm(b.seeded.Alarms[0], "ALARM", "errors")
				}
				return nil
			}}).Run(ctx, b.request("d-2", 3, pipeline.ModeDeploy))
			if !errors.Is(err, pipeline.ErrRolledBack) {
				t.Fatalf("d-2: %v, want rolled back", err)
			}
			b.checkPrimary(b.seeded.PrimaryTaskSetArn)
		})
	}
}

// TestLateCopyAfterLaterOperations: a copy of a request that comes back
// after later operations replaced its own in the lock's status (its daemon
// died before recording the outcome) is answered from the status's
// history, never run again: a succeeded deploy as succeeded, a failed one
// that a start-over replaced as refused, a rolled-back one as rolled back.
// Nothing changes in AWS, and the latest deploy keeps serving.
func TestLateCopyAfterLaterOperations(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	run := func(req pipeline.Request) {
		t.Helper()
		if _, err := p.Run(ctx, req); err != nil {
			t.Fatalf("%s: %v", req.DeployID, err)
		}
	}
	again := func(req pipeline.Request) (pipeline.Status, error) {
		t.Helper()
		b.sim.ResetCalls()
		st, err := b.pipeline(pipeOptions{owner: "daemon-late"}).Run(ctx, req)
		if got := b.mutatingCalls(); len(got) != 0 {
			t.Fatalf("the late copy of %s changed %v", req.DeployID, got)
		}
		return st, err
	}
	run(b.request("d-1", 2, pipeline.ModeDeploy))
	run(b.request("d-2", 3, pipeline.ModeDeploy))
	if st, err := again(b.request("d-1", 2, pipeline.ModeDeploy)); err != nil || st.DeployID != "d-1" || st.State != pipeline.StateSucceeded {
		t.Fatalf("late copy of d-1 after d-2: %v, status %+v", err, st)
	}
	b.checkDeployed("d-2")

	if _, err := b.pipeline(pipeOptions{hook: crashAt(pipeline.BeforeStep, pipeline.StepWaitStable)}).Run(ctx, b.request("f-1", 4, pipeline.ModeDeploy)); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	run(b.request("s-1", 5, pipeline.ModeStartOver))
	_, err := again(b.request("f-1", 4, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrUnfinished) || !pipeline.Permanent(err) || !strings.Contains(err.Error(), "a later operation replaced it") {
		t.Fatalf("late copy of f-1 after the start-over: %v", err)
	}
	b.checkDeployed("s-1")

	run(b.rollback("r-1"))
	run(b.request("d-3", 1, pipeline.ModeDeploy))
	_, err = again(b.request("s-1", 5, pipeline.ModeStartOver))
	if !errors.Is(err, pipeline.ErrRolledBack) || !strings.Contains(err.Error(), "deploy s-1 was rolled back by r-1") {
		t.Fatalf("late copy of s-1 after its rollback and d-3: %v", err)
	}
	if st, err := again(b.rollback("r-1")); err != nil || st.DeployID != "r-1" {
		t.Fatalf("late copy of r-1 after d-3: %v, status %+v", err, st)
	}
	b.checkDeployed("d-3")
}
