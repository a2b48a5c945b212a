package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/faults"
	"ecs-deploy/pipeline"
)

// servedBySeed checks that traffic never moved: blue serves from the
// seeded PRIMARY task set, and there was no downtime.
func (b *bed) servedBySeed() {
	b.t.Helper()
	es := b.endState()
	if es.serving != "blue" {
		b.t.Fatalf("%s serves, want blue", es.serving)
	}
	for _, ts := range es.taskSets {
		if aws.ToString(ts.Status) == "PRIMARY" && aws.ToString(ts.TaskSetArn) != b.seeded.PrimaryTaskSetArn {
			b.t.Fatalf("PRIMARY moved: %s", describe(es.taskSets))
		}
	}
	if d := b.sim.Downtime(); len(d) != 0 {
		b.t.Fatalf("downtime: %+v", d)
	}
}

func (b *bed) eventTypes(deployID string) []events.Type {
	var out []events.Type
	for _, e := range b.events.Events() {
		if e.DeployID == deployID && e.Step == 0 {
			out = append(out, e.Type)
		}
	}
	return out
}

func TestTasksExitFailFast(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit, StopReason: "Essential container in task exited: panic: no DATABASE_URL"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.pipeline(pipeOptions{}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepWaitStable || !strings.Contains(err.Error(), "no DATABASE_URL") {
		t.Fatalf("err = %v, want a step 7 failure naming the stop reason", err)
	}
	// Failing fast: the stopped task ended the wait, not the timeout.
	if strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v: the wait ran to its timeout", err)
	}
	b.servedBySeed()
	b.checkLockReleased("d-1", pipeline.StateFailed)
	if got := b.eventTypes("d-1"); len(got) != 2 || got[1] != events.DeployFailed {
		t.Fatalf("events: %v", got)
	}
}

func TestUnhealthyTargetsStopBeforeSwap(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepVerify {
			return b.sim.SetTargetHealth(b.seeded.TargetGroupArns["green"], false)
		}
		return nil
	}})
	_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepVerify || !strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("err = %v, want a step 8 failure", err)
	}
	b.servedBySeed()
}

func TestAlarmDuringBakeRollsBack(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms, "BakeTime": "2m"})
	}})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepBake {
			go func() {
				// Thirty simulated seconds into the bake, the alarm fires.
				time.Sleep(b.sim.RealDuration(30 * time.Second))
				_ = b.sim.SetAlarm(b.seeded.Alarms[0], "ALARM", "5xx above threshold")
			}()
		}
		return nil
	}})
	st, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrRolledBack) || !strings.Contains(err.Error(), "5xx above threshold") {
		t.Fatalf("err = %v, want a rollback naming the alarm", err)
	}
	if st.State != pipeline.StateRolledBack {
		t.Fatalf("state %s", st.State)
	}
	b.servedBySeed()
	// The new task set is still there, ACTIVE, for a look at what went wrong.
	sets := b.endState().taskSets
	if len(sets) != 2 {
		t.Fatalf("task sets after rollback: %s", describe(sets))
	}
	b.checkLockReleased("d-1", pipeline.StateRolledBack)
	if got := b.eventTypes("d-1"); len(got) != 2 || got[1] != events.DeployRolledBack {
		t.Fatalf("events: %v", got)
	}
}

func TestSecondDeployWhileOneRuns(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	atStep7 := make(chan struct{})
	release := make(chan struct{})
	first := b.pipeline(pipeOptions{owner: "daemon-a", hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepWaitStable {
			close(atStep7)
			<-release
		}
		return nil
	}})
	var wg sync.WaitGroup
	var firstErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, firstErr = first.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	}()
	<-atStep7
	_, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.request("d-2", 3, pipeline.ModeDeploy))
	close(release)
	wg.Wait()
	var held *pipeline.LockHeldError
	if !errors.As(err, &held) || !errors.Is(err, pipeline.ErrLockHeld) {
		t.Fatalf("second deploy: %v, want LockHeldError", err)
	}
	if held.Holder.DeployID != "d-1" || held.Holder.Step != pipeline.StepWaitStable || held.Holder.Owner != "daemon-a" ||
		!strings.Contains(err.Error(), "step 7") {
		t.Fatalf("holder %+v, message %q", held.Holder, err)
	}
	if firstErr != nil {
		t.Fatalf("first deploy: %v", firstErr)
	}
	b.checkDeployed("d-1")
}

func TestDeployRefusedWhileUnfinished(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if step == pipeline.StepSwap {
			return errors.New("pretend the swap failed")
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if err == nil {
		t.Fatal("no error")
	}
	_, err = b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.request("d-2", 3, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrUnfinished) || !pipeline.Permanent(err) || !strings.Contains(err.Error(), "d-1") {
		t.Fatalf("deploy over an unfinished one: %v", err)
	}
	// Refusing kept the unfinished deploy's status, so it can still resume.
	st, err := b.pipeline(pipeOptions{owner: "daemon-c"}).Run(ctx, pipeline.Request{DeployID: "d-3", App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeResume})
	if err != nil {
		t.Fatal(err)
	}
	if st.DeployID != "d-1" || st.Artifact.BuildNumber != 2 {
		t.Fatalf("resumed %s build %d, want d-1 build 2", st.DeployID, st.Artifact.BuildNumber)
	}
	b.checkDeployed("d-1")
}

func TestPlanChangesNothing(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	b.sim.ResetCalls()
	plan, err := p.Plan(ctx, b.request("d-1", 2, pipeline.ModePlan))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.sim.Calls() {
		if c.Mutating() {
			t.Fatalf("plan called %s", c.Operation)
		}
	}
	if len(b.sim.Calls()) == 0 {
		t.Fatal("plan read nothing from AWS")
	}
	if plan.Serving != "blue" || plan.NewColour != "green" || plan.Artifact.BuildNumber != 2 || len(plan.Keep) != 1 {
		t.Fatalf("plan: %+v", plan)
	}
	if s := plan.String(); !strings.Contains(s, "shop:build-2") || !strings.Contains(s, "green") {
		t.Fatalf("plan text:\n%s", s)
	}
	if _, ok, _ := b.lockers[0].Status(ctx, pipeline.LockKey(b.seeded.Name, b.env)); ok {
		t.Fatal("plan wrote a deploy status")
	}
}

func TestGate(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		cfg := defaultConfig(sd)
		var m map[string]any
		_ = json.Unmarshal([]byte(cfg), &m)
		envs := m["Apps"].(map[string]any)[sd.Name].(map[string]any)["Environments"].(map[string]any)
		envs["prod"].(map[string]any)["RequiresPreviousEnvDeploy"] = "dev"
		dev := map[string]any{}
		for k, v := range envs["prod"].(map[string]any) {
			dev[k] = v
		}
		delete(dev, "RequiresPreviousEnvDeploy")
		envs["dev"] = dev
		out, _ := json.Marshal(m)
		return string(out)
	}})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	b.sim.ResetCalls()
	_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrGate) || !pipeline.Permanent(err) || !strings.Contains(err.Error(), "deploy-dev-cfg1") {
		t.Fatalf("err = %v, want the gate", err)
	}
	if n := len(b.sim.Calls()); n != 0 {
		t.Fatalf("a gated deploy made %d AWS calls", n)
	}
	if _, ok, _ := b.lockers[0].Status(ctx, pipeline.LockKey(b.seeded.Name, b.env)); ok {
		t.Fatal("a gated deploy took the lock")
	}
	b.arts.add(b.seeded.Name, pipeline.Artifact{BuildNumber: 2, Value: "shop:build-2",
		Tags: map[string]string{"SHA": "sha2", pipeline.DeployTag("dev", "cfg1"): "success"}})
	if _, err := p.Run(ctx, b.request("d-2", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-2")
}

// withEnv sets fields of an app's prod environment in a config.
// withApp sets fields of the app in cfg.
func withApp(cfg, app string, fields map[string]any) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(cfg), &m)
	a := m["Apps"].(map[string]any)[app].(map[string]any)
	for k, v := range fields {
		a[k] = v
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// withEnv sets fields of the app's prod environment in cfg.
func withEnv(cfg, app string, fields map[string]any) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(cfg), &m)
	env := m["Apps"].(map[string]any)[app].(map[string]any)["Environments"].(map[string]any)["prod"].(map[string]any)
	for k, v := range fields {
		env[k] = v
	}
	out, _ := json.Marshal(m)
	return string(out)
}

func TestQuotesSurviveTemplates(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		cfg := defaultConfig(sd)
		return strings.Replace(cfg, `"{{.Environment}}"`, `"{{.Environment}} says {{.Artifact.Tags.MOTD}}"`, 1)
	}})
	motd := `he said "hi" \ and left }`
	b.arts.add(b.seeded.Name, pipeline.Artifact{BuildNumber: 9, Value: `shop:"quoted"`, Tags: map[string]string{"MOTD": motd}})
	ctx := testContext(t)
	st, err := b.pipeline(pipeOptions{}).Run(ctx, b.request("d-1", 9, pipeline.ModeDeploy))
	if err != nil {
		t.Fatal(err)
	}
	td, err := b.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &st.TaskDefinitionArn})
	if err != nil {
		t.Fatal(err)
	}
	c := td.TaskDefinition.ContainerDefinitions[0]
	if got := aws.ToString(c.Environment[0].Value); got != "prod says "+motd {
		t.Fatalf("ENV = %q", got)
	}
	if aws.ToString(c.Image) != `shop:"quoted"` {
		t.Fatalf("image = %q", aws.ToString(c.Image))
	}
}

// TestLockLostStopsBeforeNextChange cuts the deploy off from DynamoDB
// while it waits at step 7: its heartbeats fail, the lease runs out, and it
// stops before its next change to AWS instead of moving traffic.
func TestLockLostStopsBeforeNextChange(t *testing.T) {
	dynamo := sharedDynalite(t)
	b := newBed(t, dynamo, bedOptions{})
	ctx := testContext(t)
	cut := faults.NewInjector(1)
	u, _ := url.Parse(dynamo)
	proxy := httptest.NewServer(faults.NewProxy(u, cut))
	t.Cleanup(proxy.Close)
	p := b.pipeline(pipeOptions{dynamo: proxy.URL, hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepWaitStable {
			if err := cut.Add(faults.Rule{ErrorRate: 1}); err != nil {
				return err
			}
			time.Sleep(1500 * time.Millisecond) // past the one-second lease
		}
		return nil
	}})
	b.sim.ResetCalls()
	_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrLockLost) {
		t.Fatalf("err = %v, want ErrLockLost", err)
	}
	if n := b.sim.CallCounts()["SetRulePriorities"] + b.sim.CallCounts()["UpdateServicePrimaryTaskSet"]; n != 0 {
		t.Fatalf("traffic calls after the lock was lost: %d", n)
	}
	b.servedBySeed()
}

func TestResumeWithNothingToResume(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	_, err := b.pipeline(pipeOptions{}).Run(testContext(t), pipeline.Request{DeployID: "r", App: b.seeded.Name, Env: b.env, Mode: pipeline.ModeResume})
	if !errors.Is(err, pipeline.ErrNothingToResume) || !pipeline.Permanent(err) {
		t.Fatalf("err = %v", err)
	}
}

// TestInterruptStopsAtSafePoint cancels the deploy's context right after the
// swap: it still makes the new task set PRIMARY before stopping, releases
// the lock with the status saved, and a resume finishes it.
func TestInterruptStopsAtSafePoint(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	p := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.AfterStep && step == pipeline.StepSwap {
			cancel()
		}
		return nil
	}})
	st, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if st.Step != pipeline.StepBake || st.State != pipeline.StateRunning {
		t.Fatalf("stopped at step %d in state %s, want step 11 running", st.Step, st.State)
	}
	b.checkServing("d-1") // PRIMARY and serving agree even mid-deploy
	st, err = b.pipeline(pipeOptions{owner: "daemon-b"}).Run(testContext(t), b.request("d-1", 2, pipeline.ModeDeploy))
	if err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-1")
}

// TestInterruptAfterLastStep cancels the deploy's context right after its
// post-deploy commands, as its last check begins: the check runs to its
// end and the deploy succeeds, its commands run once; it is neither failed
// by the check's cancelled call (the torture run saw a rollback's stop
// request fail a deploy that way) nor left for a resume that would run its
// commands again.
func TestInterruptAfterLastStep(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		count := map[string]any{"Program": "sh", "Arguments": []any{"-c", "echo x >> " + runs}}
		return withApp(defaultConfig(sd), sd.Name, map[string]any{
			"PreDeployCommandTemplates": []any{count}, "PostDeployCommandTemplates": []any{count}})
	}})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	p := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.AfterStep && step == pipeline.StepPostDeploy {
			cancel()
		}
		return nil
	}})
	st, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if err != nil || st.State != pipeline.StateSucceeded {
		t.Fatalf("err = %v, status %s at step %d; want succeeded", err, st.State, st.Step)
	}
	b.checkDeployed("d-1")
	if out, _ := os.ReadFile(runs); string(out) != "x\nx\n" {
		t.Fatalf("the pre- and post-deploy commands ran %d times in all, want 2", strings.Count(string(out), "x"))
	}
}

// TestDeploySurvivesFlakyAWS runs deploys while the ECS and ELB calls are
// throttled, fail with 5xx, lose their connection, or are carried out with
// their answer lost. Retried calls must be safe to repeat; the end state is
// as if nothing had failed.
func TestDeploySurvivesFlakyAWS(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	if err := b.sim.Faults().Add(faults.Rule{ThrottleRate: 0.1, ErrorRate: 0.05, DropRate: 0.03, LoseAnswerRate: 0.05}); err != nil {
		t.Fatal(err)
	}
	p := b.pipeline(pipeOptions{})
	for i, build := range []int{2, 3} {
		id := fmt.Sprintf("flaky-%d", i)
		if _, err := p.Run(ctx, b.request(id, build, pipeline.ModeDeploy)); err != nil {
			t.Fatalf("deploy %s: %v", id, err)
		}
		b.checkDeployed(id)
	}
	injected := b.sim.Faults().Injected()
	if injected[faults.LoseAnswer] == 0 || injected[faults.Throttle] == 0 {
		t.Fatalf("faults injected: %v", injected)
	}
}
