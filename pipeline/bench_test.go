package pipeline_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// BenchmarkDeploy runs whole deploys on the emulator and reports, besides
// ns/op, the AWS calls per deploy by operation, and how step 7's wait
// compares with a naive poller run on an identical rollout in the same
// emulator: one that asks every second for the task set and its stopped
// tasks. detect_lag_s is the longest time, in simulated seconds, between
// the task set becoming steady and the pipeline noticing.
func BenchmarkDeploy(b *testing.B) {
	// A slower clock than the tests', so the real time each call takes
	// weighs little in simulated time.
	bd := newBed(b, sharedDynalite(b), bedOptions{name: "bench", timeScale: 50})
	ctx := b.Context()

	naive := naiveRollout(b, bd)

	var waitCalls, maxLag float64
	var before int
	hook := func(point pipeline.HookPoint, step int) error {
		if step != pipeline.StepWaitStable {
			return nil
		}
		n := len(bd.sim.Calls())
		if point == pipeline.BeforeStep {
			before = n
			return nil
		}
		waitCalls += float64(n - before)
		lag, err := steadyLag(bd, bd.sim.Now())
		if err != nil {
			return err
		}
		maxLag = max(maxLag, lag.Seconds())
		return nil
	}
	p := bd.pipeline(pipeOptions{hook: hook})
	bd.sim.ResetCalls()
	b.ResetTimer()
	for i := range b.N {
		if _, err := p.Run(ctx, bd.request(fmt.Sprintf("b-%d", i), 1+i%5, pipeline.ModeDeploy)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	counts := bd.sim.CallCounts()
	total := 0
	ops := make([]string, 0, len(counts))
	for op, n := range counts {
		total += n
		ops = append(ops, op)
	}
	sort.Strings(ops)
	n := float64(b.N)
	b.ReportMetric(float64(total)/n, "calls/deploy")
	for _, op := range ops {
		b.ReportMetric(float64(counts[op])/n, op+"/deploy")
	}
	b.ReportMetric(waitCalls/n, "wait_calls/rollout")
	b.ReportMetric(naive, "naive_wait_calls/rollout")
	b.ReportMetric(waitCalls/n/naive, "wait_vs_naive")
	b.ReportMetric(maxLag, "detect_lag_s")
}

// steadyLag is how long before noticed, in simulated time, the newest task
// set became steady.
func steadyLag(bd *bed, noticed time.Time) (time.Duration, error) {
	var newest ecstypes.TaskSet
	for _, ts := range bd.taskSets() {
		if newest.CreatedAt == nil || ts.CreatedAt.After(*newest.CreatedAt) {
			newest = ts
		}
	}
	return noticed.Sub(aws.ToTime(newest.StabilityStatusAt)), nil
}

// naiveRollout creates a task set like a deploy's on a second app of the
// same emulator and waits for it the naive way: every simulated second, a
// DescribeTaskSets and a ListTasks for stopped tasks. It returns the calls.
func naiveRollout(b *testing.B, bd *bed) float64 {
	b.Helper()
	ctx := b.Context()
	sd, err := bd.sim.Seed(awsim.Scenario{Name: "naive"})
	if err != nil {
		b.Fatal(err)
	}
	ts, err := bd.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskDefinition: &sd.TaskDefinitionArn,
		LaunchType: ecstypes.LaunchTypeFargate, ExternalId: aws.String("naive"),
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: sd.Subnets}},
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(sd.TargetGroupArns["green"]),
			ContainerName: aws.String(sd.ContainerName), ContainerPort: aws.Int32(int32(sd.ContainerPort))}}})
	if err != nil {
		b.Fatal(err)
	}
	clock := simClock{bd.sim}
	calls := 0
	for {
		out, err := bd.ecs.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSets: []string{*ts.TaskSet.Id}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bd.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, Family: &sd.Service, DesiredStatus: ecstypes.DesiredStatusStopped}); err != nil {
			b.Fatal(err)
		}
		calls += 2
		if out.TaskSets[0].StabilityStatus == ecstypes.StabilityStatusSteadyState {
			return float64(calls)
		}
		if err := clock.Sleep(ctx, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
