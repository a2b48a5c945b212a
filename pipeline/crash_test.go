package pipeline_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"ecs-deploy/internal/faults"
	"ecs-deploy/pipeline"
)

// TestCrashMatrix interrupts operations at every step, both before the
// step touches AWS and after its work but before the status says so, as if
// the process died, then runs them again. A deploy is run again as a resume
// and as a start-over; a rollback as the same request sent again and as a
// resume. Every run must end with the operation finished, one PRIMARY task
// set behind the serving rule, the lock released, and no moment of
// downtime; a rollback never serves the build it rolled away from.
//
// ECS reads lag changes by up to two seconds throughout, as on AWS.
//
// The lost-answer cells make each AWS write take effect with its answer
// lost, once: the SDK's retry must be safe.
func TestCrashMatrix(t *testing.T) {
	dynamo := sharedDynalite(t)
	points := []struct {
		name string
		at   pipeline.HookPoint
	}{{"before", pipeline.BeforeStep}, {"after", pipeline.AfterStep}}
	for step := pipeline.StepLock; step <= pipeline.StepPostDeploy; step++ {
		for _, mode := range []pipeline.Mode{pipeline.ModeResume, pipeline.ModeStartOver} {
			t.Run(fmt.Sprintf("step=%d/mode=%s", step, mode), func(t *testing.T) {
				t.Parallel()
				for _, point := range points {
					t.Run(point.name, func(t *testing.T) { crashAndRerun(t, dynamo, step, mode, point.at) })
				}
			})
		}
	}
	for _, step := range []int{pipeline.StepLock, pipeline.StepSwap, pipeline.StepPrimary, pipeline.StepPostDeploy} {
		for _, rerun := range []pipeline.Mode{pipeline.ModeRollback, pipeline.ModeResume} {
			t.Run(fmt.Sprintf("step=%d/mode=rollback/rerun=%s", step, rerun), func(t *testing.T) {
				t.Parallel()
				for _, point := range points {
					t.Run(point.name, func(t *testing.T) { crashRollback(t, dynamo, step, point.at, rerun) })
				}
			})
		}
	}
	for _, op := range []string{"RegisterTaskDefinition", "CreateTaskSet", "UpdateTaskSet", "DeleteTaskSet",
		"UpdateServicePrimaryTaskSet", "SetRulePriorities", "PutItem", "UpdateItem"} {
		t.Run("lost-answer/op="+op, func(t *testing.T) {
			t.Parallel()
			loseAnswer(t, dynamo, op)
		})
	}
}

func crashAndRerun(t *testing.T, dynamo string, step int, mode pipeline.Mode, at pipeline.HookPoint) {
	b := newBed(t, dynamo, bedOptions{name: fmt.Sprintf("c%d%s%d", step, mode[:2], at), consistency: 2 * time.Second})
	ctx := testContext(t)
	// A first deploy leaves an ACTIVE task set for step 4 to remove.
	if _, err := b.pipeline(pipeOptions{owner: "daemon-0"}).Run(ctx, b.request("d-0", 1, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	crashed := false
	dying := b.pipeline(pipeOptions{owner: "daemon-a", hook: func(p pipeline.HookPoint, s int) error {
		if p == at && s == step && !crashed {
			crashed = true
			return errCrash
		}
		return nil
	}})
	_, err := dying.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !crashed || !errors.Is(err, errCrash) {
		t.Fatalf("first run did not crash at step %d: %v", step, err)
	}
	rerun := b.pipeline(pipeOptions{owner: "daemon-b"})
	want := "d-1"
	req := b.request("d-1", 2, pipeline.ModeResume)
	if mode == pipeline.ModeStartOver {
		want = "d-2"
		req = b.request("d-2", 3, pipeline.ModeStartOver)
	}
	st, err := rerun.Run(ctx, req)
	if err != nil {
		t.Fatalf("%s after a crash at step %d: %v", mode, step, err)
	}
	if st.DeployID != want {
		t.Fatalf("finished deploy %s, want %s", st.DeployID, want)
	}
	b.checkDeployed(want)
}

// crashRollback kills a rollback of a finished deploy at a step, then
// sends it again (the same request, redelivered) or a resume.
func crashRollback(t *testing.T, dynamo string, step int, at pipeline.HookPoint, rerun pipeline.Mode) {
	b := newBed(t, dynamo, bedOptions{name: fmt.Sprintf("r%d%s%d", step, rerun[:2], at), consistency: 2 * time.Second})
	ctx := testContext(t)
	if _, err := b.pipeline(pipeOptions{owner: "daemon-0"}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	rolledAway := b.taskSetOf("d-1")
	crashed := false
	_, err := b.pipeline(pipeOptions{owner: "daemon-a", hook: func(p pipeline.HookPoint, s int) error {
		if p == at && s == step && !crashed {
			crashed = true
			return errCrash
		}
		return nil
	}}).Run(ctx, b.rollback("r-1"))
	if !crashed || !errors.Is(err, errCrash) {
		t.Fatalf("the rollback did not crash at step %d: %v", step, err)
	}
	b.sim.ResetCalls()
	req := b.rollback("r-1")
	if rerun == pipeline.ModeResume {
		req = pipeline.Request{DeployID: "x-1", App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeResume}
	}
	st, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, req)
	switch {
	case step == pipeline.StepLock && rerun == pipeline.ModeResume:
		// The rollback died before it recorded anything: there is nothing
		// to resume.
		if !errors.Is(err, pipeline.ErrNothingToResume) {
			t.Fatalf("resume: %v, want nothing to resume", err)
		}
		b.checkDeployed("d-1")
		return
	case err != nil:
		t.Fatalf("%s after the rollback crashed at step %d: %v", rerun, step, err)
	}
	if st.DeployID != "r-1" || st.State != pipeline.StateSucceeded {
		t.Fatalf("status %s %s, want r-1 succeeded", st.DeployID, st.State)
	}
	if n := b.sim.CallCounts()["SetRulePriorities"]; n > 1 {
		t.Fatalf("the rerun swapped traffic %d times", n)
	}
	b.servedBySeed()
	b.checkPrimary(b.seeded.PrimaryTaskSetArn)
	b.checkLockReleased("r-1", pipeline.StateSucceeded)
	for _, ts := range b.taskSets() {
		if *ts.TaskSetArn == rolledAway && *ts.Status != "ACTIVE" {
			t.Fatalf("the rolled-back task set is %s", *ts.Status)
		}
	}
}

// loseAnswer runs a deploy and a rollback while one call of op, to the
// emulator or to DynamoDB, takes effect and has its answer lost.
func loseAnswer(t *testing.T, dynamo, op string) {
	b := newBed(t, dynamo, bedOptions{name: "lost" + op[:6] + fmt.Sprint(len(op)), consistency: 2 * time.Second})
	ctx := testContext(t)
	if _, err := b.pipeline(pipeOptions{owner: "daemon-0"}).Run(ctx, b.request("d-0", 1, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	injector := b.sim.Faults()
	lockDB := ""
	if op == "PutItem" || op == "UpdateItem" {
		injector = faults.NewInjector(1)
		u, _ := url.Parse(dynamo)
		proxy := httptest.NewServer(faults.NewProxy(u, injector))
		t.Cleanup(proxy.Close)
		lockDB = proxy.URL
	}
	rule := faults.Rule{Operation: op, LoseAnswerRate: 1, Times: 1}
	if err := injector.Add(rule); err != nil {
		t.Fatal(err)
	}
	p := b.pipeline(pipeOptions{owner: "daemon-a", dynamo: lockDB})
	if _, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatalf("deploy with one %s answer lost: %v", op, err)
	}
	b.checkDeployed("d-1")
	if err := injector.Add(rule); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx, b.rollback("r-1")); err != nil {
		t.Fatalf("rollback with one %s answer lost: %v", op, err)
	}
	b.checkPrimary(b.taskSetOf("d-0"))
	if injector.Injected()[faults.LoseAnswer] == 0 {
		t.Fatalf("no %s answer was lost", op)
	}
}
