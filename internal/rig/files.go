package rig

import (
	"fmt"

	"ecs-deploy/internal/sandbox"
	"ecs-deploy/pipeline"
)

// Env is the environment every app of a rig deploys to.
const Env = "prod"

// Builds is how many builds of each app the artifacts file holds.
const Builds = 5

// buildOf is build b of app as the artifacts file (sandbox.WriteFiles)
// and table hold it.
func buildOf(app string, b int) pipeline.Artifact {
	return pipeline.Artifact{BuildNumber: b, Value: fmt.Sprintf("%s:build-%d", app, b), Tags: map[string]string{"SHA": sandbox.BuildSHA(app, b)}}
}
