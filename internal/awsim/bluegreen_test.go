package awsim_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/internal/awsim"
)

// TestBlueGreenSwitch runs a whole blue/green switch through the SDK: a task
// set on green, STEADY_STATE and healthy targets, the priority swap, the new
// PRIMARY, and the old task set scaled down and deleted, with no downtime.
func TestBlueGreenSwitch(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "shop", DesiredCount: 3})

	td := b.registerTaskDef(t, sd, "shop:v2")
	green := b.createTaskSet(t, sd, td, "green", "deploy-1")
	if green.Status == nil || *green.Status != "ACTIVE" || green.StabilityStatus != ecstypes.StabilityStatusStabilizing {
		t.Fatalf("new task set: status %v stability %v, want ACTIVE STABILIZING", aws.ToString(green.Status), green.StabilityStatus)
	}
	if green.ComputedDesiredCount != 3 {
		t.Fatalf("computedDesiredCount = %d, want 3", green.ComputedDesiredCount)
	}

	// Pending and running counts move on the clock until STEADY_STATE.
	sawPending := false
	b.waitFor(t, 2*time.Minute, "green STEADY_STATE", func() bool {
		ts := b.taskSet(t, sd, *green.Id)
		sawPending = sawPending || ts.PendingCount > 0
		return ts.StabilityStatus == ecstypes.StabilityStatusSteadyState
	})
	if !sawPending {
		t.Error("never saw pending tasks while the task set stabilized")
	}
	ts := b.taskSet(t, sd, *green.Id)
	if ts.RunningCount != 3 || ts.PendingCount != 0 {
		t.Fatalf("steady task set: running %d pending %d, want 3 and 0", ts.RunningCount, ts.PendingCount)
	}
	if h := b.health(t, sd.TargetGroupArns["green"]); !allHealthy(h) || len(h) != 3 {
		t.Fatalf("green targets: %+v, want 3 healthy", h)
	}

	// Swap the two rules' priorities in one call.
	_, err := b.elb.SetRulePriorities(b.ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
		{RuleArn: aws.String(sd.RuleArns["blue"]), Priority: aws.Int32(20)},
		{RuleArn: aws.String(sd.RuleArns["green"]), Priority: aws.Int32(10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.priorities(t, sd.ListenerArn); p[sd.RuleArns["green"]] != "10" || p[sd.RuleArns["blue"]] != "20" {
		t.Fatalf("priorities after swap: %v", p)
	}

	// Make it PRIMARY: the old one becomes ACTIVE.
	if _, err := b.ecs.UpdateServicePrimaryTaskSet(b.ctx, &ecs.UpdateServicePrimaryTaskSetInput{
		Cluster: &sd.Cluster, Service: &sd.Service, PrimaryTaskSet: green.TaskSetArn}); err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, s := range b.taskSets(t, sd) {
		statuses[*s.TaskSetArn] = *s.Status
	}
	if statuses[*green.TaskSetArn] != "PRIMARY" || statuses[sd.PrimaryTaskSetArn] != "ACTIVE" {
		t.Fatalf("statuses after primary update: %v", statuses)
	}

	// The old task set cannot be deleted before it is scaled to zero.
	_, err = b.ecs.DeleteTaskSet(b.ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: &sd.PrimaryTaskSetArn})
	var invalid *ecstypes.InvalidParameterException
	if !errors.As(err, &invalid) {
		t.Fatalf("delete before scale-down: err %v, want InvalidParameterException", err)
	}

	if _, err := b.ecs.UpdateTaskSet(b.ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service,
		TaskSet: &sd.PrimaryTaskSetArn, Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 0}}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, time.Minute, "blue scaled to 0", func() bool {
		old := b.taskSet(t, sd, sd.PrimaryTaskSetArn)
		return old.RunningCount == 0 && old.PendingCount == 0 && old.StabilityStatus == ecstypes.StabilityStatusSteadyState
	})
	if _, err := b.ecs.DeleteTaskSet(b.ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: &sd.PrimaryTaskSetArn}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, time.Minute, "blue task set gone", func() bool { return len(b.taskSets(t, sd)) == 1 })
	if len(b.health(t, sd.TargetGroupArns["blue"])) != 0 {
		t.Errorf("blue still has targets: %+v", b.health(t, sd.TargetGroupArns["blue"]))
	}
	svc, err := b.ecs.DescribeServices(b.ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Services[0]; got.RunningCount != 3 || aws.ToString(got.TaskDefinition) != td || len(got.TaskSets) != 1 {
		t.Fatalf("service after switch: running %d, task def %s, %d task sets", got.RunningCount, aws.ToString(got.TaskDefinition), len(got.TaskSets))
	}
	if d := b.sim.Downtime(); len(d) != 0 {
		t.Fatalf("downtime during a correct switch: %+v", d)
	}
}

// TestDowntimeRecord swaps traffic to a target group with no healthy target
// and back: the record holds exactly that interval.
func TestDowntimeRecord(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "web"})
	swap := func(blue, green int32) {
		t.Helper()
		if _, err := b.elb.SetRulePriorities(b.ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
			{RuleArn: aws.String(sd.RuleArns["blue"]), Priority: aws.Int32(blue)},
			{RuleArn: aws.String(sd.RuleArns["green"]), Priority: aws.Int32(green)},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	swap(20, 10) // green has no targets at all
	start := b.sim.Now()
	b.sim.Advance(30 * time.Second)
	if d := b.sim.Downtime(); len(d) != 1 || !d[0].End.IsZero() {
		t.Fatalf("while green serves without targets: %+v, want one open outage", d)
	}
	swap(10, 20)
	d := b.sim.Downtime()
	if len(d) != 1 || d[0].End.IsZero() {
		t.Fatalf("after swapping back: %+v, want one closed outage", d)
	}
	if got := d[0].End.Sub(d[0].Start); got < 30*time.Second || d[0].Start.Before(start.Add(-time.Second)) {
		t.Fatalf("outage lasted %v from %v, want >= 30s from about %v", got, d[0].Start, start)
	}
	if d[0].ListenerArn != sd.ListenerArn || len(d[0].TargetGroupArns) != 1 || d[0].TargetGroupArns[0] != sd.TargetGroupArns["green"] {
		t.Fatalf("outage names %s %v", d[0].ListenerArn, d[0].TargetGroupArns)
	}
}

// TestRealTimeScale runs the clock for real at a high scale: a rollout of
// about 35 simulated seconds finishes within a second of real time.
func TestRealTimeScale(t *testing.T) {
	b := newBed(t, awsim.Config{TimeScale: 200})
	sd := b.seed(t, awsim.Scenario{Name: "fast"})
	green := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "fast:v2"), "green", "d")
	deadline := time.Now().Add(10 * time.Second)
	for b.taskSet(t, sd, *green.Id).StabilityStatus != ecstypes.StabilityStatusSteadyState {
		if time.Now().After(deadline) {
			t.Fatal("task set did not stabilise within 10s of real time at scale 200")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConcurrentCalls runs readers and writers at once; under -race it
// shows that answers are never encoded from state another call changes.
func TestConcurrentCalls(t *testing.T) {
	b := newBed(t, awsim.Config{TimeScale: 500})
	sd := b.seed(t, awsim.Scenario{Name: "busy"})
	td := b.registerTaskDef(t, sd, "busy:v2")
	ts := b.createTaskSet(t, sd, td, "green", "c")
	done := make(chan struct{})
	errs := make(chan error, 8)
	for range 3 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if _, err := b.ecs.DescribeTaskSets(b.ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service,
					TaskSets: []string{sd.PrimaryTaskSetArn, *ts.Id}}); err != nil {
					errs <- err
					return
				}
				if _, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 20 {
		value := float64(100 * (i % 2))
		if _, err := b.ecs.UpdateTaskSet(b.ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: ts.Id,
			Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: value}}); err != nil {
			t.Fatal(err)
		}
		prio := map[bool][2]int32{true: {10, 20}, false: {20, 10}}[i%2 == 0]
		if _, err := b.elb.SetRulePriorities(b.ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
			{RuleArn: aws.String(sd.RuleArns["blue"]), Priority: aws.Int32(prio[0])},
			{RuleArn: aws.String(sd.RuleArns["green"]), Priority: aws.Int32(prio[1])},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
