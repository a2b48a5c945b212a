package pipeline_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// TestPostDeployClosesFailedDeploy: a deploy that ran its pre-deploy
// commands and failed before moving traffic runs its post-deploy commands,
// for the task definition that still serves. A resume opens again with the
// pre-deploy commands.
func TestPostDeployClosesFailedDeploy(t *testing.T) {
	rc := newRecorder(t)
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string { return rc.commands(defaultConfig(sd), sd.Name) }})
	ctx := testContext(t)
	green := b.seeded.TargetGroupArns["green"]
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.AfterStep && step == pipeline.StepWaitStable {
			return b.sim.FailTargetGroup(green, true)
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepVerify {
		t.Fatalf("err = %v, want a step 8 failure", err)
	}
	seed := family(b.seeded.TaskDefinitionArn)
	if got, want := rc.lines(t), []string{"pre", "post " + seed}; !slices.Equal(got, want) {
		t.Fatalf("commands %q, want %q", got, want)
	}
	if err := b.sim.FailTargetGroup(green, false); err != nil {
		t.Fatal(err)
	}
	st, err := b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.request("d-1", 2, pipeline.ModeResume))
	if err != nil {
		t.Fatal(err)
	}
	td := family(st.TaskDefinitionArn)
	if got, want := rc.lines(t), []string{"pre", "post " + seed, "pre", "verify " + td, "post " + td}; !slices.Equal(got, want) {
		t.Fatalf("commands %q, want %q", got, want)
	}
	b.checkDeployed("d-1")
}

// TestPostDeployAfterRollback: a manual rollback ends with the post-deploy
// commands, for the task definition it put back.
func TestPostDeployAfterRollback(t *testing.T) {
	rc := newRecorder(t)
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string { return rc.commands(defaultConfig(sd), sd.Name) }})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	st, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx, b.rollback("r-1")); err != nil {
		t.Fatal(err)
	}
	td := family(st.TaskDefinitionArn)
	want := []string{"pre", "verify " + td, "post " + td, "post " + family(b.seeded.TaskDefinitionArn)}
	if got := rc.lines(t); !slices.Equal(got, want) {
		t.Fatalf("commands %q, want %q", got, want)
	}
}

// TestSkipCommands: a request may skip the pre- and post-deploy commands,
// as the original's -skip-pre-post did; the events say so, and the verify
// commands still run.
func TestSkipCommands(t *testing.T) {
	rc := newRecorder(t)
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string { return rc.commands(defaultConfig(sd), sd.Name) }})
	ctx := testContext(t)
	req := b.request("d-1", 2, pipeline.ModeDeploy)
	req.SkipCommands = true
	st, err := b.pipeline(pipeOptions{}).Run(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rc.lines(t), []string{"verify " + family(st.TaskDefinitionArn)}; !slices.Equal(got, want) {
		t.Fatalf("commands %q, want %q", got, want)
	}
	skipped := map[int]bool{}
	for _, e := range b.events.Events() {
		if e.Type == events.StepSucceeded && strings.Contains(e.Message, "skipped") {
			skipped[e.Step] = true
		}
	}
	if !skipped[pipeline.StepPreDeploy] || !skipped[pipeline.StepPostDeploy] || len(skipped) != 2 {
		t.Fatalf("steps said skipped: %v, want 2 and 12", skipped)
	}
	b.checkDeployed("d-1")
}
