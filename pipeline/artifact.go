package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Artifact is a build registered in ArtifactDB.
type Artifact struct {
	// BuildNumber is the build's number within its project.
	BuildNumber int `json:"build_number"`
	// Value is the artifact itself: the image reference containers run.
	Value string `json:"value"`
	// Tags hold the build's metadata (SHA=<commit>) and its deploy records
	// (deploy-<env>-<config SHA>=success).
	Tags map[string]string `json:"tags,omitempty"`
}

// Selector picks an artifact: by the SHA tag's value or by build number.
type Selector struct {
	SHA   string
	Build int
}

func (s Selector) String() string {
	if s.SHA != "" {
		return "SHA=" + s.SHA
	}
	return fmt.Sprintf("build %d", s.Build)
}

// ErrArtifactNotFound is returned when no artifact matches a selector.
var ErrArtifactNotFound = errors.New("artifact not found")

// ArtifactDB is what the pipeline needs of ArtifactDB.
type ArtifactDB interface {
	// FindArtifact returns the latest artifact of project matching sel, or
	// an error wrapping ErrArtifactNotFound.
	FindArtifact(ctx context.Context, project string, sel Selector) (Artifact, error)
}

// DeployResult is how a deploy of a build to an environment ended, for
// ArtifactDB: the RequiresPreviousEnvDeploy gate reads it.
type DeployResult struct {
	Project   string
	Build     int
	Env       string
	ConfigSHA string
	Success   bool
	EndedAt   time.Time
}

// ResultRecorder records deploy results in ArtifactDB.
type ResultRecorder interface {
	RecordDeployResult(ctx context.Context, r DeployResult) error
}

// DeployTag is the tag that records the result of deploying an artifact to
// env with a config: deploy-<env>-<the config SHA's first 8 characters>, as
// the original tool wrote it (git rev-parse --short=8 HEAD), so results it
// recorded count here too.
func DeployTag(env, configSHA string) string {
	return "deploy-" + env + "-" + ShortConfigSHA(configSHA)
}

// ShortConfigSHA is the 8-character form of a config SHA that deploy tags
// carry.
func ShortConfigSHA(configSHA string) string {
	if len(configSHA) > 8 {
		return configSHA[:8]
	}
	return configSHA
}

// checkGate enforces RequiresPreviousEnvDeploy: the artifact must carry a
// success record for the previous environment with the same config SHA.
func checkGate(a Artifact, e *EnvConfig, configSHA string) error {
	prev := e.RequiresPreviousEnvDeploy
	if prev == "" {
		return nil
	}
	tag := DeployTag(prev, configSHA)
	if a.Tags[tag] != "success" {
		return fmt.Errorf("%w: build %d has not been deployed to %s with config %s (tag %s is %q, want \"success\")",
			ErrGate, a.BuildNumber, prev, configSHA, tag, a.Tags[tag])
	}
	return nil
}

// ErrGate is returned when the RequiresPreviousEnvDeploy gate refuses a deploy.
var ErrGate = errors.New("previous environment gate")
