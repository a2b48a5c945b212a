package artifactdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"syscall"

	"ecs-deploy/pipeline"
)

// File keeps artifacts in a JSON file: {"project": [artifact, ...]}. Reads see edits at once; writes take an advisory lock on
// <Path>.lock and replace the file atomically, so processes on one machine
// can share it. For local use and tests.
type File struct{ Path string }

// load reads the file; a missing file holds no artifacts.
func (f File) load() (map[string][]pipeline.Artifact, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]pipeline.Artifact{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifact file: %w", err)
	}
	all := map[string][]pipeline.Artifact{}
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("artifact file %s: %w", f.Path, err)
	}
	return all, nil
}

func (f File) FindArtifact(_ context.Context, project string, sel pipeline.Selector) (pipeline.Artifact, error) {
	all, err := f.load()
	if err != nil {
		return pipeline.Artifact{}, err
	}
	// The latest is the highest build number; among equals, the last listed.
	var best *pipeline.Artifact
	for i, a := range all[project] {
		match := a.Tags["SHA"] == sel.SHA
		if sel.SHA == "" {
			match = sel.Build > 0 && a.BuildNumber == sel.Build
		}
		if match && (best == nil || a.BuildNumber >= best.BuildNumber) {
			best = &all[project][i]
		}
	}
	if best == nil {
		return pipeline.Artifact{}, fmt.Errorf("project %s has no artifact with %s: %w", project, sel, pipeline.ErrArtifactNotFound)
	}
	return *best, nil
}

func (f File) GetBuild(ctx context.Context, project string, build int) (pipeline.Artifact, error) {
	return f.FindArtifact(ctx, project, pipeline.Selector{Build: build})
}

func (f File) RecordResult(_ context.Context, r Result) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return f.update(func(all map[string][]pipeline.Artifact) error {
		a, err := findBuild(all, r.Project, r.Build)
		if err != nil {
			return err
		}
		if r.Supersedes(a.Tags) {
			a.Tags[r.Tag()] = string(r.Outcome)
			a.Tags[r.EndedTag()] = formatTime(r.EndedAt)
		}
		return nil
	})
}

// SetTag sets one tag of a build, as `artifact-db tag set` does.
func (f File) SetTag(_ context.Context, project string, build int, key, value string) error {
	return f.update(func(all map[string][]pipeline.Artifact) error {
		a, err := findBuild(all, project, build)
		if err != nil {
			return err
		}
		a.Tags[key] = value
		return nil
	})
}

func (f File) Register(_ context.Context, project string, a pipeline.Artifact) error {
	if project == "" || a.BuildNumber <= 0 || a.Value == "" {
		return fmt.Errorf("register build %d of project %q: a project, a build number and a value are required", a.BuildNumber, project)
	}
	return f.update(func(all map[string][]pipeline.Artifact) error {
		if old, err := findBuild(all, project, a.BuildNumber); err == nil {
			if old.Value != a.Value {
				return fmt.Errorf("build %d of %s is %s: %w", a.BuildNumber, project, old.Value, ErrBuildExists)
			}
			maps.Copy(old.Tags, a.Tags)
			return nil
		}
		a.Tags = maps.Clone(a.Tags)
		if a.Tags == nil {
			a.Tags = map[string]string{}
		}
		all[project] = append(all[project], a)
		return nil
	})
}

// findBuild returns a pointer into all, with its tags map made.
func findBuild(all map[string][]pipeline.Artifact, project string, build int) (*pipeline.Artifact, error) {
	list := all[project]
	for i := range list {
		if list[i].BuildNumber == build {
			if list[i].Tags == nil {
				list[i].Tags = map[string]string{}
			}
			return &list[i], nil
		}
	}
	return nil, fmt.Errorf("project %s has no build %d: %w", project, build, pipeline.ErrArtifactNotFound)
}

// update changes the file under its lock and replaces it atomically.
func (f File) update(change func(map[string][]pipeline.Artifact) error) error {
	lock, err := os.OpenFile(f.Path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("artifact file lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("artifact file lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	all, err := f.load()
	if err != nil {
		return err
	}
	if err := change(all); err != nil {
		return err
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), filepath.Base(f.Path)+".*")
	if err != nil {
		return fmt.Errorf("artifact file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("artifact file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("artifact file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("artifact file: %w", err)
	}
	return nil
}
