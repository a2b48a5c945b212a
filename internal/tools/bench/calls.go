package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/rig"
)

// rolloutTimings make a rollout last d in the emulator: the tasks are
// provisioned and started, their targets registered, and they pass one
// health check (the seeded target groups check every 5 s). Half a second
// more puts the steady state between two of the pollers' whole seconds.
func rolloutTimings(d time.Duration) awsim.Timings {
	const check = 5 * time.Second
	provision, registration := d/12, d/6
	return awsim.Timings{Provision: provision, Registration: registration, Start: d - provision - registration - check + 500*time.Millisecond}
}

// measureCalls deploys once to have a task set to remove, then deploys
// again with a rollout of plan.rollout and counts the calls the daemon
// makes, by service. Beside that rollout, on a second app of the same
// emulator, a plain poller asks ECS every second for its task set and the
// stopped tasks of its family until it is steady, as a simple deploy
// tool would.
func measureCalls(ctx context.Context, b *bench) error {
	s, err := b.newStage(ctx, "calls", "calls", 2, rolloutTimings(b.plan.rollout), b.plan.deregistration)
	if err != nil {
		return err
	}
	if _, err := s.start(ctx, "daemon"); err != nil {
		return err
	}
	defer s.stop()
	if _, err := s.timedDeploy(ctx, "calls1", "calls-warmup", 1); err != nil {
		return err
	}
	r := b.rig
	id := "calls-measured"
	naiveDone := make(chan naiveResult, 1)
	go func() {
		if _, err := r.Events.WaitFor(ctx, "step 6 of "+id, func(p rig.Published) bool {
			return p.DeployID == id && p.Type == events.StepStarted && p.Step == 6
		}); err != nil {
			naiveDone <- naiveResult{err: err}
			return
		}
		naiveDone <- naivePoll(ctx, s, "calls2")
	}()
	d, err := s.timedDeploy(ctx, "calls1", id, 2)
	if err != nil {
		return err
	}
	naive := <-naiveDone
	if naive.err != nil {
		return fmt.Errorf("the plain poller: %w", naive.err)
	}
	final, _ := r.Events.WaitFor(ctx, "the end of "+id, rig.Final(id))
	perService := r.Calls.ByService(func(c rig.Call) bool {
		return rig.Between(rig.DaemonKey, d.sent, final.At)(c) && c.Operation != "ReceiveMessage"
	})
	step7 := stepWindow(r.Events.All(), id, 7)
	waitCalls := r.Calls.Count(func(c rig.Call) bool {
		return rig.Between(rig.DaemonKey, step7[0], step7[1])(c) && c.Service == "ecs"
	})
	ts, err := s.taskSet(ctx, "calls1", id)
	if err != nil {
		return err
	}
	lag := step7[1].Sub(aws.ToTime(ts.StabilityStatusAt))
	perDeploy := map[string]float64{}
	for svc, n := range perService {
		perDeploy[svc] = float64(n)
	}
	aws3 := perService["ecs"] + perService["elasticloadbalancing"] + perService["monitoring"]
	res := b.results
	res.info("api_calls_per_deploy", perDeploy, "", fmt.Sprintf("a %v rollout, after a deploy whose task set step 4 removes; SQS long polls of idle receivers not counted", b.plan.rollout))
	res.atMost("api_calls_ratio", float64(waitCalls)/float64(naive.calls), "", 0.4,
		fmt.Sprintf("step 7 made %d ECS calls over the rollout, a plain 1 s poller %d; the whole deploy's ECS, ELBv2 and CloudWatch calls: %d (%.2f of the poller's)",
			waitCalls, naive.calls, aws3, float64(aws3)/float64(naive.calls)))
	res.below("stability_lag_ms", rig.Ms(lag), "ms", 1000, fmt.Sprintf("steady state to step 7's end; the plain poller's: %d ms", naive.lag.Milliseconds()))
	return nil
}

// stepWindow returns when a deploy's step started and succeeded.
func stepWindow(all []rig.Published, id string, step int) [2]time.Time {
	var w [2]time.Time
	for _, e := range all {
		if e.DeployID != id || e.Step != step {
			continue
		}
		switch e.Type {
		case events.StepStarted:
			w[0] = e.Time
		case events.StepSucceeded:
			w[1] = e.Time
		}
	}
	return w
}

type naiveResult struct {
	calls int
	// lag is from the steady state to the poll that saw it.
	lag time.Duration
	err error
}

// naivePoll creates a task set like a deploy's on app's idle target group
// and polls it every second, with the stopped tasks of its family, until
// it is steady.
func naivePoll(ctx context.Context, s *stage, app string) naiveResult {
	sd := s.Apps[app]
	c := s.Emulator.ECS
	ts, err := c.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskDefinition: &sd.TaskDefinitionArn,
		LaunchType: ecstypes.LaunchTypeFargate, ExternalId: aws.String("naive"),
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: sd.Subnets, SecurityGroups: sd.SecurityGroups}},
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(sd.TargetGroupArns["green"]),
			ContainerName: aws.String(sd.ContainerName), ContainerPort: aws.Int32(int32(sd.ContainerPort))}}})
	if err != nil {
		return naiveResult{err: err}
	}
	var res naiveResult
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		out, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSets: []string{aws.ToString(ts.TaskSet.TaskSetArn)}})
		if err != nil {
			return naiveResult{err: err}
		}
		if _, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, Family: &sd.Service, DesiredStatus: ecstypes.DesiredStatusStopped}); err != nil {
			return naiveResult{err: err}
		}
		res.calls += 2
		if len(out.TaskSets) == 1 && out.TaskSets[0].StabilityStatus == ecstypes.StabilityStatusSteadyState {
			res.lag = time.Since(aws.ToTime(out.TaskSets[0].StabilityStatusAt))
			return res
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return naiveResult{err: ctx.Err()}
		}
	}
}
