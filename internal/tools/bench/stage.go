package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/rig"
)

// stage is a rig.Stage a measurement runs on, at real time (scale 1), so
// the emulator's clock is the wall clock.
type stage struct {
	*rig.Stage
	bench *bench
	// real converts the emulator's times to the wall clock: the same,
	// unless a jitter moves the emulator's clock.
	real func(time.Time) time.Time
}

// newStage seeds n apps named prefix1, prefix2, ... in a new emulator.
func (b *bench) newStage(ctx context.Context, name, prefix string, n int, timings awsim.Timings, deregistration int) (*stage, error) {
	s, err := b.rig.NewStage(ctx, rig.StageConfig{Name: "bench-" + name, Apps: n, Prefix: prefix, Timings: timings,
		Deregistration: deregistration, Visibility: b.defaults.visibility})
	if err != nil {
		return nil, err
	}
	return &stage{Stage: s, bench: b, real: func(t time.Time) time.Time { return t }}, nil
}

// start starts a daemon with the daemon's defaults, but for args.
func (s *stage) start(ctx context.Context, name string, args ...string) (*rig.Daemon, error) {
	return s.StartDaemon(ctx, name, args...)
}

// stop stops the stage's daemons with SIGTERM.
func (s *stage) stop() error { return s.Stop(40 * time.Second) }

// taskSet reads a task set of an app as ECS describes it, found by its
// external ID (the deploy ID).
func (s *stage) taskSet(ctx context.Context, app, externalID string) (ecstypes.TaskSet, error) {
	sd := s.Apps[app]
	for _, v := range s.Emulator.Sim.TaskSets(sd.Cluster, sd.Service) {
		if v.ExternalID != externalID {
			continue
		}
		out, err := s.Emulator.ECS.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String(sd.Cluster), Service: aws.String(sd.Service),
			TaskSets: []string{v.Arn}})
		if err != nil {
			return ecstypes.TaskSet{}, err
		}
		if len(out.TaskSets) == 1 {
			return out.TaskSets[0], nil
		}
	}
	return ecstypes.TaskSet{}, fmt.Errorf("%s has no task set of deploy %s", app, externalID)
}

// stoppedTasks describes every stopped task of an app.
func (s *stage) stoppedTasks(ctx context.Context, app string) ([]ecstypes.Task, error) {
	sd := s.Apps[app]
	var arns []string
	p := ecs.NewListTasksPaginator(s.Emulator.ECS, &ecs.ListTasksInput{Cluster: aws.String(sd.Cluster), Family: aws.String(sd.Service),
		DesiredStatus: ecstypes.DesiredStatusStopped})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.TaskArns...)
	}
	var tasks []ecstypes.Task
	for len(arns) > 0 {
		n := min(len(arns), 100)
		out, err := s.Emulator.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(sd.Cluster), Tasks: arns[:n]})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, out.Tasks...)
		arns = arns[n:]
	}
	return tasks, nil
}
