package pipeline_test

import (
	"errors"
	"strings"
	"testing"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// TestSwapRefusedForUnhealthyTargets: targets that fail after step 8 are
// caught right before the swap, which is refused: traffic stays where it
// was, and the error names the failing targets.
func TestSwapRefusedForUnhealthyTargets(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	green := b.seeded.TargetGroupArns["green"]
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.AfterStep && step == pipeline.StepVerify {
			return b.sim.FailTargetGroup(green, true)
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepSwap {
		t.Fatalf("err = %v, want a step 9 failure", err)
	}
	for _, want := range []string{"swap to green refused, blue keeps serving", green, "unhealthy (Target.FailedHealthChecks)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if n := b.sim.CallCounts()["SetRulePriorities"]; n != 0 {
		t.Fatalf("%d SetRulePriorities calls", n)
	}
	b.servedBySeed()
	b.checkLockReleased("d-1", pipeline.StateFailed)
}

// TestResumeAtSwapVerifiesAgain: a resume whose status says step 9 runs
// step 8 again, verify commands included, before it swaps; targets that
// went bad meanwhile stop it there.
func TestResumeAtSwapVerifiesAgain(t *testing.T) {
	for _, bad := range []bool{false, true} {
		name := map[bool]string{false: "healthy", true: "unhealthy"}[bad]
		t.Run(name, func(t *testing.T) {
			rc := newRecorder(t)
			b := newBed(t, sharedDynalite(t), bedOptions{name: "rv" + name[:2], configJSON: func(sd awsim.Seeded) string {
				return rc.commands(defaultConfig(sd), sd.Name)
			}})
			ctx := testContext(t)
			_, err := b.pipeline(pipeOptions{hook: crashAt(pipeline.BeforeStep, pipeline.StepSwap)}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
			if !errors.Is(err, errCrash) {
				t.Fatal(err)
			}
			if bad {
				if err := b.sim.FailTargetGroup(b.seeded.TargetGroupArns["green"], true); err != nil {
					t.Fatal(err)
				}
			}
			_, err = b.pipeline(pipeOptions{owner: "daemon-b"}).Run(ctx, b.request("d-1", 2, pipeline.ModeResume))
			verifies := 0
			for _, l := range rc.lines(t) {
				if strings.HasPrefix(l, "verify ") {
					verifies++
				}
			}
			if !bad {
				if err != nil {
					t.Fatal(err)
				}
				if verifies != 2 {
					t.Fatalf("verify commands ran %d times, want again on the resume: %q", verifies, rc.lines(t))
				}
				b.checkDeployed("d-1")
				return
			}
			var se *pipeline.StepError
			if !errors.As(err, &se) || se.Step != pipeline.StepVerify {
				t.Fatalf("err = %v, want a step 8 failure", err)
			}
			b.servedBySeed()
		})
	}
}
