package artifactdb

import (
	"context"
	"errors"

	"ecs-deploy/pipeline"
)

// Store is an ArtifactDB store: what the pipeline reads, plus what the
// recorder writes.
type Store interface {
	pipeline.ArtifactDB
	// GetBuild returns one build of project, or an error wrapping
	// pipeline.ErrArtifactNotFound.
	GetBuild(ctx context.Context, project string, build int) (pipeline.Artifact, error)
	// RecordResult tags the build with a deploy's result, unless the build
	// already holds a result that ended later. Recording the same result
	// again changes nothing. An unknown build is an error wrapping
	// pipeline.ErrArtifactNotFound.
	RecordResult(ctx context.Context, r Result) error
}

// Registrar registers builds; CI calls it through
// `enqueue artifact register`.
type Registrar interface {
	// Register adds a build. Registering the same build with the same value
	// again sets the given tags and is otherwise a no-op; another value is an
	// error wrapping ErrBuildExists.
	Register(ctx context.Context, project string, a pipeline.Artifact) error
}

// ErrBuildExists is returned when a build number is registered twice with
// different artifacts.
var ErrBuildExists = errors.New("build already registered")

var (
	_ Store     = (*CLI)(nil)
	_ Store     = Dynamo{}
	_ Store     = File{}
	_ Registrar = Dynamo{}
	_ Registrar = File{}
)
