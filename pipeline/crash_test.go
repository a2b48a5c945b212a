package pipeline_test

import (
	"errors"
	"fmt"
	"testing"

	"ecs-deploy/pipeline"
)

// TestCrashMatrix interrupts a deploy at every step, both before the step
// touches AWS and after its work but before the status says so, as if the
// process died, then runs it again in each mode. Every run must end with
// the deploy that finished serving from the one PRIMARY task set, the lock
// released, and no moment of downtime.
func TestCrashMatrix(t *testing.T) {
	dynamo := sharedDynalite(t)
	for step := pipeline.StepLock; step <= pipeline.StepPostDeploy; step++ {
		for _, mode := range []pipeline.Mode{pipeline.ModeResume, pipeline.ModeStartOver} {
			t.Run(fmt.Sprintf("step=%d/mode=%s", step, mode), func(t *testing.T) {
				t.Parallel()
				for _, point := range []struct {
					name string
					at   pipeline.HookPoint
				}{{"before", pipeline.BeforeStep}, {"after", pipeline.AfterStep}} {
					t.Run(point.name, func(t *testing.T) {
						crashAndRerun(t, dynamo, step, mode, point.at)
					})
				}
			})
		}
	}
}

func crashAndRerun(t *testing.T, dynamo string, step int, mode pipeline.Mode, at pipeline.HookPoint) {
	b := newBed(t, dynamo, bedOptions{name: fmt.Sprintf("c%d%s%d", step, mode[:2], at)})
	ctx := testContext(t)
	// A first deploy leaves an ACTIVE task set for step 4 to remove.
	if _, err := b.pipeline(pipeOptions{owner: "daemon-0"}).Run(ctx, b.request("d-0", 1, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	crashed := false
	dying := b.pipeline(pipeOptions{owner: "daemon-a", hook: func(p pipeline.HookPoint, s int) error {
		if p == at && s == step {
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
