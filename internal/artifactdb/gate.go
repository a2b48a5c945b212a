package artifactdb

import (
	"context"
	"fmt"
	"time"

	"ecs-deploy/pipeline"
)

// Gate checks RequiresPreviousEnvDeploy against a store: the artifact must
// carry deploy-<previous env>-<config SHA, 8 characters>=success. The
// pipeline's own check (pipeline.checkGate) should read the same tag; see
// DeployTag.
type Gate struct {
	// Store finds the artifact. Required.
	Store pipeline.ArtifactDB
	// Wait is how long Check waits for the tag to read success, for a
	// result still on its way to the store. Default 0: no wait.
	Wait time.Duration
	// Poll is how often Check reads the artifact again while waiting.
	// Default 1s.
	Poll time.Duration
	// Sleep waits for d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Check finds the artifact sel names and returns it when the gate lets it
// through to an environment that requires prevEnv ("" requires nothing).
// Otherwise the error wraps pipeline.ErrGate and names the tag, its value
// and how long it waited.
func (g Gate) Check(ctx context.Context, project string, sel pipeline.Selector, prevEnv, configSHA string) (pipeline.Artifact, error) {
	poll := g.Poll
	if poll <= 0 {
		poll = time.Second
	}
	sleep := g.Sleep
	if sleep == nil {
		sleep = pipeline.RealClock{}.Sleep
	}
	tag := pipeline.DeployTag(prevEnv, configSHA)
	var waited time.Duration
	for {
		a, err := g.Store.FindArtifact(ctx, project, sel)
		if err != nil {
			return pipeline.Artifact{}, err
		}
		if prevEnv == "" || a.Tags[tag] == string(Success) {
			return a, nil
		}
		if waited >= g.Wait {
			return pipeline.Artifact{}, fmt.Errorf("%w: build %d of %s has not been deployed to %s with config %s (tag %s is %q, want \"success\"; waited %v)",
				pipeline.ErrGate, a.BuildNumber, project, prevEnv, pipeline.ShortConfigSHA(configSHA), tag, a.Tags[tag], waited)
		}
		d := min(poll, g.Wait-waited)
		if err := sleep(ctx, d); err != nil {
			return pipeline.Artifact{}, fmt.Errorf("wait for tag %s on build %d of %s: %w", tag, a.BuildNumber, project, err)
		}
		waited += d
	}
}
