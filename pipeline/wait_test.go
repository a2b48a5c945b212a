package pipeline_test

import (
	"errors"
	"strings"
	"testing"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// TestHealthCheckFailuresFailFast: tasks the scheduler stops for failing
// their load balancer health checks count as failures: after a few, step 7
// fails with the stopped reason instead of running to its timeout.
func TestHealthCheckFailuresFailFast(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTargetsUnhealthy}); err != nil {
		t.Fatal(err)
	}
	_, err := b.pipeline(pipeOptions{}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepWaitStable || !strings.Contains(err.Error(), "stopped for failing health checks") ||
		!strings.Contains(err.Error(), "Task failed ELB health checks in (target-group "+b.seeded.TargetGroupArns["green"]+")") {
		t.Fatalf("err = %v, want a step 7 failure with the stopped reason", err)
	}
	if strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v: the wait ran to its timeout", err)
	}
	b.servedBySeed()
}

// TestSpotInterruptionsWaited: tasks stopped for a Spot interruption are
// not the build's fault: ECS replaces them and the rollout goes on.
func TestSpotInterruptionsWaited(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultSpotInterruption}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pipeline(pipeOptions{}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-1")
}

// TestDeployFollowsPages: AWS may answer a paged call in parts. With every
// page one item long, the pipeline still finds both colours' rules among
// the listener's, and the failing task among the family's stopped ones.
func TestDeployFollowsPages(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms})
	}})
	ctx := testContext(t)
	if err := b.sim.LimitPages(1); err != nil {
		t.Fatal(err)
	}
	p := b.pipeline(pipeOptions{})
	// Two deploys leave the seeded tasks stopped, in the same family.
	for _, id := range []string{"d-1", "d-2"} {
		if _, err := p.Run(ctx, b.request(id, 2, pipeline.ModeDeploy)); err != nil {
			t.Fatalf("deploy %s with one-item pages: %v", id, err)
		}
		b.checkDeployed(id)
	}
	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit, StopReason: "exit: bad config"}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Run(ctx, b.request("d-3", 3, pipeline.ModeDeploy))
	if err == nil || !strings.Contains(err.Error(), "exit: bad config") || strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want step 7 to fail fast", err)
	}
}
