package pipeline_test

import (
	"testing"

	"ecs-deploy/events"
	"ecs-deploy/pipeline"
)

func TestDeploySucceeds(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	st, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != pipeline.StateSucceeded || st.NewColour != "green" {
		t.Fatalf("status %+v", st)
	}
	b.checkDeployed("d-1")
	// A second deploy goes back to blue and removes the seeded task set.
	if _, err := p.Run(ctx, b.request("d-2", 3, pipeline.ModeDeploy)); err != nil {
		t.Fatal(err)
	}
	b.checkDeployed("d-2")
	var types []events.Type
	for _, e := range b.events.Events() {
		if e.DeployID == "d-2" && e.Step == 0 {
			types = append(types, e.Type)
		}
	}
	if len(types) != 2 || types[0] != events.DeployStarted || types[1] != events.DeploySucceeded {
		t.Fatalf("deploy events: %v", types)
	}
}
