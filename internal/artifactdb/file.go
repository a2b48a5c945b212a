// Package artifactdb holds ArtifactDB stores the pipeline can read. File is
// a JSON file of artifacts per project, for local use and tests; the stores
// that talk to ArtifactDB itself come with the ArtifactDB issue.
package artifactdb

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"ecs-deploy/pipeline"
)

// File reads artifacts from a JSON file: {"project": [artifact, ...]},
// newest last. It is read on every lookup, so edits show at once.
type File struct{ Path string }

var _ pipeline.ArtifactDB = File{}

func (f File) FindArtifact(_ context.Context, project string, sel pipeline.Selector) (pipeline.Artifact, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return pipeline.Artifact{}, fmt.Errorf("artifact file: %w", err)
	}
	var all map[string][]pipeline.Artifact
	if err := json.Unmarshal(b, &all); err != nil {
		return pipeline.Artifact{}, fmt.Errorf("artifact file %s: %w", f.Path, err)
	}
	list := all[project]
	for i := len(list) - 1; i >= 0; i-- {
		a := list[i]
		if (sel.SHA != "" && a.Tags["SHA"] == sel.SHA) || (sel.Build > 0 && a.BuildNumber == sel.Build) {
			return a, nil
		}
	}
	return pipeline.Artifact{}, fmt.Errorf("project %s has no artifact with %s: %w", project, sel, pipeline.ErrArtifactNotFound)
}
