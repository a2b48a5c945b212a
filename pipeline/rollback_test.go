package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

func (b *bed) rollback(id string) pipeline.Request {
	return pipeline.Request{DeployID: id, App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeRollback, RequestedBy: "oncall"}
}

func (b *bed) mutatingCalls() []string {
	var out []string
	for _, c := range b.sim.Calls() {
		if c.Mutating() {
			out = append(out, c.Operation)
		}
	}
	return out
}

// TestRollbackMode: a rollback re-serves the task set that served before
// the last deploy, in one swap and one primary update. Sent again, it is
// answered again; a second rollback has nothing to roll back to and changes
// nothing, not even the status, so it never serves the build rolled away
// from; the next deploy goes ahead.
func TestRollbackMode(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	if _, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	b.sim.ResetCalls()
	st, err := p.Run(ctx, b.rollback("r-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.mutatingCalls(); len(got) != 2 || got[0] != "SetRulePriorities" || got[1] != "UpdateServicePrimaryTaskSet" {
		t.Fatalf("rollback changed %v", got)
	}
	if st.PreviousTaskSetArn != b.seeded.PrimaryTaskSetArn || !st.RollingBack {
		t.Fatalf("rolled back to %s, want the seeded %s", st.PreviousTaskSetArn, b.seeded.PrimaryTaskSetArn)
	}
	b.servedBySeed()
	b.checkLockReleased("r-1", pipeline.StateSucceeded)
	done := b.status()

	b.sim.ResetCalls()
	if _, err := p.Run(ctx, b.rollback("r-1")); err != nil {
		t.Fatalf("r-1 again: %v", err)
	}
	_, err = p.Run(ctx, b.rollback("r-2"))
	if !errors.Is(err, pipeline.ErrNothingToRollBack) || !pipeline.Permanent(err) {
		t.Fatalf("a second rollback: %v, want nothing to roll back", err)
	}
	if got := b.mutatingCalls(); len(got) != 0 {
		t.Fatalf("repeated and refused rollbacks changed %v", got)
	}
	b.servedBySeed()
	if after := b.status(); after.DeployID != "r-1" || !after.UpdatedAt.Equal(done.UpdatedAt) || after.RunID != done.RunID {
		t.Fatalf("the refused rollback changed the status: %+v, was %+v", after, done)
	}
	if _, err := p.Run(ctx, b.request("d-2", 3, pipeline.ModeDeploy)); err != nil {
		t.Fatalf("deploy after the rollbacks: %v", err)
	}
	b.checkDeployed("d-2")
}

// TestRollbackWithNothingToRollBack: with no deploy recorded there is
// nothing to go back to, and nothing is written.
func TestRollbackWithNothingToRollBack(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	_, err := b.pipeline(pipeOptions{}).Run(testContext(t), b.rollback("r-1"))
	if !errors.Is(err, pipeline.ErrNothingToRollBack) || !pipeline.Permanent(err) {
		t.Fatalf("err = %v", err)
	}
	if st := b.status(); st.DeployID != "" {
		t.Fatalf("a status was written: %+v", st)
	}
	b.servedBySeed()
}

// TestRollbackRefusedBeforeTraffic: a rollback of a deploy that stopped
// before moving traffic is refused with the reason, and never serves the
// task set nobody verified; the deploy can still be resumed.
func TestRollbackRefusedBeforeTraffic(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	_, err := b.pipeline(pipeOptions{hook: crashAt(pipeline.BeforeStep, pipeline.StepWaitStable)}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	before := b.status()
	b.sim.ResetCalls()
	_, err = b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.rollback("r-1"))
	if !pipeline.Permanent(err) || !strings.Contains(err.Error(), "deploy d-1 stopped at step 7 (wait for steady state) before moving traffic: resume or start over") {
		t.Fatalf("err = %v", err)
	}
	if got := b.mutatingCalls(); len(got) != 0 {
		t.Fatalf("the refused rollback changed %v", got)
	}
	b.servedBySeed()
	if after := b.status(); after.DeployID != "d-1" || after.Step != before.Step || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("status after the refusal: %+v", after)
	}
	if _, err := b.pipeline(pipeOptions{owner: "daemon-c"}).Run(ctx, b.request("d-1", 2, pipeline.ModeResume)); err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-1")
}

// TestRollbackOfDeployThatMovedTraffic: a rollback of a deploy that died
// after the swap puts the previous task set back and closes the deploy.
func TestRollbackOfDeployThatMovedTraffic(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	_, err := b.pipeline(pipeOptions{hook: crashAt(pipeline.AfterStep, pipeline.StepSwap)}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	st, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.rollback("r-1"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Closes != "d-1" || !st.RollingBack {
		t.Fatalf("status %+v", st)
	}
	b.servedBySeed()
	b.checkPrimary(b.seeded.PrimaryTaskSetArn)
	b.checkLockReleased("r-1", pipeline.StateSucceeded)
	// The deploy is closed: there is nothing to resume.
	_, err = b.pipeline(pipeOptions{owner: "daemon-c"}).Run(ctx, pipeline.Request{DeployID: "d-9", App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeResume})
	if !errors.Is(err, pipeline.ErrNothingToResume) {
		t.Fatalf("resume after the rollback: %v, want nothing to resume", err)
	}
}

// TestAutomaticRollbackFinishedByResume: a daemon dies during the rollback
// a failed bake started, after the swap back. Resume finishes the rollback,
// though the alarm has cleared, and never serves the new build again; the
// post-deploy commands then run for the build that serves.
func TestAutomaticRollbackFinishedByResume(t *testing.T) {
	rc := newRecorder(t)
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return rc.commands(withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms, "BakeTime": "30s"}), sd.Name)
	}})
	ctx := testContext(t)
	primaries := 0
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		switch {
		case point == pipeline.BeforeStep && step == pipeline.StepBake:
			return b.sim.SetAlarm(b.seeded.Alarms[0], "ALARM", "5xx above threshold")
		case point == pipeline.BeforeStep && step == pipeline.StepPrimary:
			if primaries++; primaries == 2 {
				return errCrash // the rollback's primary update
			}
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	if st := b.status(); !st.RollingBack || st.Step != pipeline.StepPrimary {
		t.Fatalf("status after the crash: %+v", st)
	}
	if err := b.sim.SetAlarm(b.seeded.Alarms[0], "OK", "recovered"); err != nil {
		t.Fatal(err)
	}
	b.sim.ResetCalls()
	st, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.request("d-1", 2, pipeline.ModeResume))
	if !errors.Is(err, pipeline.ErrRolledBack) || st.State != pipeline.StateRolledBack {
		t.Fatalf("resume: %v, state %s; want the rollback finished", err, st.State)
	}
	for _, c := range b.mutatingCalls() {
		if c == "SetRulePriorities" {
			t.Fatal("the resume swapped traffic again")
		}
	}
	b.servedBySeed()
	b.checkPrimary(b.seeded.PrimaryTaskSetArn)
	b.checkLockReleased("d-1", pipeline.StateRolledBack)
	lines := rc.lines(t)
	if last := lines[len(lines)-1]; last != "post "+family(b.seeded.TaskDefinitionArn) {
		t.Fatalf("commands ran %q; want the post-deploy commands last, for the seeded task definition", lines)
	}
}

// TestRollbackContinuesUnderWay: a rollback request that finds a rollback
// under way continues it towards its goal.
func TestRollbackContinuesUnderWay(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms})
	}})
	ctx := testContext(t)
	swaps := 0
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		switch {
		case point == pipeline.BeforeStep && step == pipeline.StepBake:
			return b.sim.SetAlarm(b.seeded.Alarms[0], "ALARM", "latency")
		case point == pipeline.AfterStep && step == pipeline.StepSwap:
			if swaps++; swaps == 2 {
				return errCrash // after the swap back
			}
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	b.sim.ResetCalls()
	if _, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.rollback("r-1")); err != nil {
		t.Fatal(err)
	}
	if got := b.mutatingCalls(); len(got) != 1 || got[0] != "UpdateServicePrimaryTaskSet" {
		t.Fatalf("continuing the rollback changed %v, want only the primary update", got)
	}
	b.servedBySeed()
	b.checkPrimary(b.seeded.PrimaryTaskSetArn)
}

// TestRollbackNeedsHealthyPrevious: when the bake fails but the previous
// target group has too few healthy targets to take traffic back, traffic
// stays where it is; the deploy fails with both target groups' health and
// says what to send next. Once the previous build is healthy, a rollback
// finishes the job.
func TestRollbackNeedsHealthyPrevious(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms})
	}})
	ctx := testContext(t)
	blue := b.seeded.TargetGroupArns["blue"]
	st, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepBake {
			if err := b.sim.FailTargetGroup(blue, true); err != nil {
				return err
			}
			return b.sim.SetAlarm(b.seeded.Alarms[0], "ALARM", "errors")
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if err == nil || errors.Is(err, pipeline.ErrRolledBack) {
		t.Fatalf("err = %v, want a failure", err)
	}
	for _, want := range []string{"swap to blue refused", "blue target group " + blue, "green target group " + b.seeded.TargetGroupArns["green"]} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if !strings.Contains(st.Error, "send resume or rollback to finish the rollback") {
		t.Errorf("the status does not say what to send: %q", st.Error)
	}
	if st.State != pipeline.StateFailed || !st.RollingBack {
		t.Fatalf("status %+v", st)
	}
	b.checkServing("d-1") // the new build still serves: nothing healthier to go to
	if err := b.sim.FailTargetGroup(blue, false); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetAlarm(b.seeded.Alarms[0], "OK", "quiet"); err != nil {
		t.Fatal(err)
	}
	b.waitHealthy(blue, 2)
	if _, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.rollback("r-1")); err != nil {
		t.Fatal(err)
	}
	es := b.endState()
	if es.serving != "blue" {
		t.Fatalf("%s serves after the rollback", es.serving)
	}
	b.checkPrimary(b.seeded.PrimaryTaskSetArn)
}

// TestRollbackToleratesOneFlappingTarget: a rollback needs the previous
// task set's desired count of healthy targets, not every target healthy.
func TestRollbackToleratesOneFlappingTarget(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	if _, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	blue := b.seeded.TargetGroupArns["blue"]
	stray := b.registerStray(blue)
	if err := b.sim.SetTargetHealth(blue, false, stray); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx, b.rollback("r-1")); err != nil {
		t.Fatalf("rollback with one flapping target: %v", err)
	}
	b.servedBySeed()
}

// TestAbortStopsRunningDeploy: an abort does not wait behind a running
// deploy. It asks the deploy to stop, takes the lock, and closes it as
// aborted; the serving build stays, and the next deploy needs no resume.
func TestAbortStopsRunningDeploy(t *testing.T) {
	for _, mode := range []pipeline.Mode{pipeline.ModeAbort, pipeline.ModeRollback} {
		t.Run(string(mode), func(t *testing.T) {
			b := newBed(t, sharedDynalite(t), bedOptions{name: "ab" + string(mode[:2]), configJSON: func(sd awsim.Seeded) string {
				return withEnv(defaultConfig(sd), sd.Name, map[string]any{"RolloutTimeout": "100h"})
			}})
			ctx := testContext(t)
			if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultNeverStabilize}); err != nil {
				t.Fatal(err)
			}
			running := make(chan error, 1)
			first := b.pipeline(pipeOptions{owner: "daemon-a"})
			go func() {
				_, err := first.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
				running <- err
			}()
			b.waitForStep("d-1", pipeline.StepWaitStable)
			req := pipeline.Request{DeployID: "a-1", App: b.seeded.Name, Env: b.env, Mode: mode, RequestedBy: "oncall"}
			st, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, req)
			select {
			case derr := <-running:
				if !errors.Is(derr, pipeline.ErrPreempted) {
					t.Fatalf("the running deploy ended with %v, want ErrPreempted", derr)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the running deploy did not stop")
			}
			switch mode {
			case pipeline.ModeAbort:
				if err != nil || st.State != pipeline.StateAborted || st.Closes != "d-1" {
					t.Fatalf("abort: %v, status %+v", err, st)
				}
				b.checkLockReleased("a-1", pipeline.StateAborted)
			case pipeline.ModeRollback:
				if !pipeline.Permanent(err) || !strings.Contains(err.Error(), "before moving traffic") {
					t.Fatalf("rollback: %v", err)
				}
				if st := b.status(); st.DeployID != "d-1" || st.State != pipeline.StateFailed || !strings.Contains(st.Error, "rollback a-1") {
					t.Fatalf("status %+v", st)
				}
			}
			b.servedBySeed()
			var sawFailed bool
			for _, e := range b.events.Events() {
				sawFailed = sawFailed || (e.DeployID == "d-1" && e.Type == events.DeployFailed)
			}
			if !sawFailed {
				t.Fatal("d-1 got no deploy.failed")
			}
			b.sim.ClearTaskSetFaults()
			next := b.request("d-2", 3, pipeline.ModeDeploy)
			if mode == pipeline.ModeRollback {
				next.Mode = pipeline.ModeStartOver
			}
			if _, err := b.pipeline(pipeOptions{owner: "daemon-c"}).Run(ctx, next); err != nil {
				t.Fatal(err)
			}
			b.checkDeployed("d-2")
		})
	}
}

// crashAt returns a hook that crashes the run at a point of a step.
func crashAt(at pipeline.HookPoint, step int) func(pipeline.HookPoint, int) error {
	return func(p pipeline.HookPoint, s int) error {
		if p == at && s == step {
			return errCrash
		}
		return nil
	}
}

// waitHealthy waits until the target group has n healthy targets.
func (b *bed) waitHealthy(tg string, n int) {
	b.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := b.elb.DescribeTargetHealth(context.Background(), &elb.DescribeTargetHealthInput{TargetGroupArn: &tg})
		if err != nil {
			b.t.Fatal(err)
		}
		healthy := 0
		for _, d := range out.TargetHealthDescriptions {
			if d.TargetHealth.State == "healthy" {
				healthy++
			}
		}
		if healthy >= n {
			return
		}
	}
	b.t.Fatalf("target group %s never had %d healthy targets", tg, n)
}

// registerStray registers a target no task stands behind in the target
// group, and returns its ID.
func (b *bed) registerStray(tg string) string {
	b.t.Helper()
	const id = "10.99.0.1"
	if _, err := b.elb.RegisterTargets(b.ctx(), &elb.RegisterTargetsInput{TargetGroupArn: &tg,
		Targets: []elbtypes.TargetDescription{{Id: aws.String(id), Port: aws.Int32(int32(b.seeded.ContainerPort))}}}); err != nil {
		b.t.Fatal(err)
	}
	return id
}
