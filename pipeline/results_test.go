package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"ecs-deploy/events"
	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// tagsAtFinal is an event sink that, when a deploy's final event goes out,
// notes the deploy tag the store holds for its build right then.
type tagsAtFinal struct {
	store artifactdb.Store
	mu    sync.Mutex
	seen  map[string]string // deploy ID → tag value at its final event
}

func (s *tagsAtFinal) Publish(ctx context.Context, e events.Event) error {
	if !e.Type.Final() {
		return nil
	}
	a, err := s.store.GetBuild(ctx, e.Project, e.Build)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[e.DeployID] = a.Tags[pipeline.DeployTag(e.Env, e.ConfigSHA)]
	return nil
}

// TestResultRecordedBeforeFinalEvent: the pipeline records how a deploy
// ended in ArtifactDB before its final event goes out, so the gate of the
// next environment never races the recorder.
func TestResultRecordedBeforeFinalEvent(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(defaultConfig(sd)), &m)
		envs := m["Apps"].(map[string]any)[sd.Name].(map[string]any)["Environments"].(map[string]any)
		dev := map[string]any{}
		for k, v := range envs["prod"].(map[string]any) {
			dev[k] = v
		}
		envs["dev"] = dev
		envs["prod"].(map[string]any)["RequiresPreviousEnvDeploy"] = "dev"
		out, _ := json.Marshal(m)
		return string(out)
	}})
	ctx := testContext(t)
	store := artifactdb.File{Path: filepath.Join(t.TempDir(), "artifacts.json")}
	for build := 1; build <= 3; build++ {
		if err := store.Register(ctx, b.seeded.Name, pipeline.Artifact{BuildNumber: build, Value: fmt.Sprintf("shop:build-%d", build),
			Tags: map[string]string{"SHA": fmt.Sprintf("sha%d", build)}}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &tagsAtFinal{store: store, seen: map[string]string{}}
	p := b.pipeline(pipeOptions{artifactDB: store, results: artifactdb.Recorder{Store: store}, events: sink})

	dev := b.request("d-dev", 2, pipeline.ModeDeploy)
	dev.Env = "dev"
	if _, err := p.Run(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if got := sink.seen["d-dev"]; got != "success" {
		t.Fatalf("at deploy.succeeded the build's tag was %q, want success", got)
	}
	if _, err := p.Run(ctx, b.request("d-prod", 2, pipeline.ModeDeploy)); err != nil {
		t.Fatalf("prod right after dev: %v", err)
	}

	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit}); err != nil {
		t.Fatal(err)
	}
	bad := b.request("d-bad", 3, pipeline.ModeStartOver)
	bad.Env = "dev"
	if _, err := p.Run(ctx, bad); err == nil {
		t.Fatal("the deploy of crashing tasks succeeded")
	}
	if got := sink.seen["d-bad"]; got != "failure" {
		t.Fatalf("at deploy.failed the build's tag was %q, want failure", got)
	}
}
