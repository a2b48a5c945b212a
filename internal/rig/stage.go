package rig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/sandbox"
)

// StageConfig sets up a Stage.
type StageConfig struct {
	// Name names the stage's folder, queue and daemons. Required.
	Name string
	// Apps is how many apps to seed, named Prefix1, Prefix2, ...
	Apps   int
	Prefix string
	// TimeScale is the emulator's; Timings its state change durations.
	// Default scale 1: the emulator's clock is the wall clock.
	TimeScale float64
	Timings   awsim.Timings
	// Deregistration is the target groups' deregistration delay in
	// seconds. Default the seeded one, 10.
	Deregistration int
	// Visibility is the request queue's visibility timeout. Default 30s.
	Visibility time.Duration
	// ArtifactsTable, when set, is a DynamoDB table NewStage creates and
	// fills with the apps' builds, for the daemons to read artifacts from
	// instead of the artifacts file.
	ArtifactsTable string
}

// Stage is what one run of the benchmark or the torture test deploys on:
// an emulator of its own with apps seeded, their deploy config and
// artifacts, a request queue, and the daemons started on them.
type Stage struct {
	Name     string
	Emulator *Emulator
	// Apps are the seeded apps by name, in AppNames' order.
	Apps     map[string]awsim.Seeded
	AppNames []string
	Files    sandbox.Files
	Queue    Queue
	// ArtifactsTable is StageConfig's.
	ArtifactsTable string

	rig     *Rig
	mu      sync.Mutex
	daemons []*Daemon
}

// NewStage seeds a new emulator and writes the files the daemons read.
func (r *Rig) NewStage(ctx context.Context, c StageConfig) (*Stage, error) {
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.Visibility == 0 {
		c.Visibility = 30 * time.Second
	}
	em, err := r.NewEmulator(awsim.Config{TimeScale: c.TimeScale, Timings: c.Timings})
	if err != nil {
		return nil, err
	}
	s := &Stage{Name: c.Name, Emulator: em, Apps: map[string]awsim.Seeded{}, rig: r}
	var seeded []awsim.Seeded
	for i := 1; i <= c.Apps; i++ {
		sd, err := em.Sim.Seed(awsim.Scenario{Name: fmt.Sprintf("%s%d", c.Prefix, i), DeregistrationDelaySeconds: c.Deregistration})
		if err != nil {
			return nil, err
		}
		s.Apps[sd.Name] = sd
		s.AppNames = append(s.AppNames, sd.Name)
		seeded = append(seeded, sd)
	}
	dir := filepath.Join(r.Dir, c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if s.Files, err = sandbox.WriteFiles(dir, seeded, sandbox.FilesConfig{Env: Env, Builds: Builds, BakeTime: -1}); err != nil {
		return nil, err
	}
	if s.Queue, err = r.NewQueue(ctx, c.Name, c.Visibility); err != nil {
		return nil, err
	}
	if c.ArtifactsTable != "" {
		if err := r.fillArtifacts(ctx, c.ArtifactsTable, s.AppNames); err != nil {
			return nil, err
		}
		s.ArtifactsTable = c.ArtifactsTable
	}
	return s, nil
}

// fillArtifacts creates an ArtifactDB table and registers the apps'
// builds in it, as the artifacts file has them.
func (r *Rig) fillArtifacts(ctx context.Context, table string, apps []string) error {
	store := artifactdb.Dynamo{DB: r.DynamoDB, Table: table}
	if err := store.CreateTable(ctx, r.DynamoDB); err != nil {
		return err
	}
	for _, app := range apps {
		for b := 1; b <= Builds; b++ {
			if err := store.Register(ctx, app, buildOf(app, b)); err != nil {
				return err
			}
		}
	}
	return nil
}

// StartDaemon starts a daemon on the stage, named after it, with the
// daemon's defaults but for args.
func (s *Stage) StartDaemon(ctx context.Context, name string, args ...string) (*Daemon, error) {
	return s.Start(ctx, s.Spec(name, args...))
}

// Spec is how StartDaemon runs a daemon: the stage's emulator, queue,
// config and artifacts, the daemon's defaults but for args.
func (s *Stage) Spec(name string, args ...string) DaemonSpec {
	return DaemonSpec{Name: s.Name + "-" + name, Emulator: s.Emulator, Queue: s.Queue.Name,
		ConfigFile: s.Files.Config, Artifacts: s.Files.Artifacts, ArtifactsTable: s.ArtifactsTable, Args: args}
}

// Start starts a daemon as spec says, as one of the stage's.
func (s *Stage) Start(ctx context.Context, spec DaemonSpec) (*Daemon, error) {
	d, err := s.rig.StartDaemon(ctx, spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.daemons = append(s.daemons, d)
	s.mu.Unlock()
	return d, nil
}

// Stop stops the stage's running daemons with SIGTERM, each within
// timeout, and returns the first that did not exit by itself with 0.
func (s *Stage) Stop(timeout time.Duration) error {
	s.mu.Lock()
	daemons := append([]*Daemon(nil), s.daemons...)
	s.mu.Unlock()
	var first error
	for _, d := range daemons {
		if !d.Running() {
			continue
		}
		if err := d.Stop(timeout); err != nil && first == nil {
			first = err
		}
	}
	return first
}
