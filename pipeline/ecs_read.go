package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// How the pipeline reads ECS, given what AWS allows:
//
//   - DescribeTaskSets needs the IDs of the task sets it describes; the
//     service's task sets are listed by DescribeServices.
//   - ECS's Describe and List calls are eventually consistent: for a short
//     while after this deploy creates or changes a task set, a read may not
//     show it yet. Reads that expect this deploy's own change retry for
//     consistencyGrace before they believe what they see.
//   - A service holds at most maxTaskSets task sets, DRAINING ones included.

// consistencyGrace bounds how long a read may lag behind a change.
const consistencyGrace = time.Minute

// maxTaskSets is ECS's limit of task sets per service.
const maxTaskSets = 5

// listTaskSets returns the service's task sets, DRAINING ones included.
func (r *run) listTaskSets(ctx context.Context) ([]ecstypes.TaskSet, error) {
	out, err := r.aws.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster: aws.String(r.env.Cluster), Services: []string{r.env.Family}})
	if err != nil {
		return nil, fmt.Errorf("describe service %s of cluster %s: %w", r.env.Family, r.env.Cluster, err)
	}
	if len(out.Services) == 0 {
		reason := "MISSING"
		if len(out.Failures) > 0 {
			reason = aws.ToString(out.Failures[0].Reason)
		}
		return nil, permanentError{fmt.Errorf("service %s of cluster %s: %s", r.env.Family, r.env.Cluster, reason)}
	}
	svc := out.Services[0]
	if status := aws.ToString(svc.Status); status != "ACTIVE" {
		return nil, permanentError{fmt.Errorf("service %s of cluster %s is %s", r.env.Family, r.env.Cluster, status)}
	}
	return svc.TaskSets, nil
}

// listTaskSetsUntil lists the service's task sets until done says the
// listing shows what is awaited, for the rollout timeout at most.
func (r *run) listTaskSetsUntil(ctx context.Context, what string, done func([]ecstypes.TaskSet) bool) ([]ecstypes.TaskSet, error) {
	var sets []ecstypes.TaskSet
	err := r.poll(ctx, r.env.rolloutTimeout(), what, func() (bool, error) {
		var err error
		if sets, err = r.listTaskSets(ctx); err != nil {
			return false, err
		}
		return done(sets), nil
	})
	return sets, err
}

// describeTaskSet reads one task set; found is false when ECS does not
// know it (any more, or yet).
func (r *run) describeTaskSet(ctx context.Context, arn string) (ts ecstypes.TaskSet, found bool, err error) {
	out, err := r.aws.ECS.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{
		Cluster: aws.String(r.env.Cluster), Service: aws.String(r.env.Family), TaskSets: []string{arn}})
	if err != nil {
		return ecstypes.TaskSet{}, false, fmt.Errorf("describe task set %s: %w", arn, err)
	}
	if len(out.TaskSets) == 0 {
		return ecstypes.TaskSet{}, false, nil
	}
	return out.TaskSets[0], true, nil
}

// awaitTaskSet reads a task set this deploy created or changed: while ECS
// says it is missing, it asks again, for consistencyGrace at most.
func (r *run) awaitTaskSet(ctx context.Context, arn string) (ecstypes.TaskSet, error) {
	var ts ecstypes.TaskSet
	err := r.poll(ctx, consistencyGrace, "task set "+arn+" to be readable", func() (bool, error) {
		var found bool
		var err error
		ts, found, err = r.describeTaskSet(ctx, arn)
		return found, err
	})
	if err != nil {
		return ecstypes.TaskSet{}, fmt.Errorf("task set %s is gone: %w", arn, err)
	}
	return ts, nil
}

// listTasks lists the tasks in, following every page.
func (r *run) listTasks(ctx context.Context, in *ecs.ListTasksInput) ([]string, error) {
	var arns []string
	p := ecs.NewListTasksPaginator(r.aws.ECS, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.TaskArns...)
	}
	return arns, nil
}

// describeTasks describes tasks at most 100 a call, as ECS allows.
func (r *run) describeTasks(ctx context.Context, arns []string) ([]ecstypes.Task, error) {
	var tasks []ecstypes.Task
	for len(arns) > 0 {
		n := min(len(arns), 100)
		out, err := r.aws.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(r.env.Cluster), Tasks: arns[:n]})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, out.Tasks...)
		arns = arns[n:]
	}
	return tasks, nil
}
