package awsim_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/internal/awsim"
)

// targetState describes one target of tg through the SDK.
func (b *bed) targetState(t *testing.T, tg, id string) elbtypes.TargetHealth {
	t.Helper()
	out, err := b.elb.DescribeTargetHealth(b.ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: &tg,
		Targets: []elbtypes.TargetDescription{{Id: &id}}})
	if err != nil {
		t.Fatal(err)
	}
	return *out.TargetHealthDescriptions[0].TargetHealth
}

// TestTargetHealthFollowsTargetGroup walks a target through the states its
// target group's settings give it: registering, initial health checks (one
// passing check makes a new target healthy, whatever the healthy threshold),
// unhealthy, and back to healthy after the healthy threshold of intervals.
func TestTargetHealthFollowsTargetGroup(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "hc", HealthCheckIntervalSeconds: 10, HealthyThresholdCount: 4, UnhealthyThresholdCount: 3})
	tg, id := sd.TargetGroupArns["green"], "10.9.0.1"
	if _, err := b.elb.RegisterTargets(b.ctx, &elb.RegisterTargetsInput{TargetGroupArn: &tg, Targets: []elbtypes.TargetDescription{{Id: &id}}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		state   elbtypes.TargetHealthStateEnum
		reason  elbtypes.TargetHealthReasonEnum
		desc    string
		then    func()
	}{
		{0, "initial", "Elb.RegistrationInProgress", "Target registration is in progress", nil},
		{b.sim.Timings().Registration - time.Second, "initial", "Elb.RegistrationInProgress", "Target registration is in progress", nil},
		{time.Second, "initial", "Elb.InitialHealthChecking", "Initial health checks in progress", nil},
		{9 * time.Second, "initial", "Elb.InitialHealthChecking", "Initial health checks in progress", nil},
		{time.Second, "healthy", "", "", func() {
			if err := b.sim.SetTargetHealth(tg, false); err != nil {
				t.Fatal(err)
			}
		}},
		{0, "unhealthy", "Target.FailedHealthChecks", "Health checks failed", func() {
			if err := b.sim.SetTargetHealth(tg, true); err != nil {
				t.Fatal(err)
			}
		}},
		{39 * time.Second, "unhealthy", "Target.FailedHealthChecks", "Health checks failed", nil},
		{time.Second, "healthy", "", "", nil},
	}
	for i, st := range steps {
		b.sim.Advance(st.advance)
		got := b.targetState(t, tg, id)
		if got.State != st.state || got.Reason != st.reason || aws.ToString(got.Description) != st.desc {
			t.Fatalf("step %d: %s %s %q, want %s %s %q", i, got.State, got.Reason, aws.ToString(got.Description), st.state, st.reason, st.desc)
		}
		if st.then != nil {
			st.then()
		}
	}
}

// TestFailingTargetsTurnUnhealthy: a target that fails its checks from the
// start turns unhealthy after the unhealthy threshold of intervals.
func TestFailingTargetsTurnUnhealthy(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "fail", DesiredCount: 1, HealthCheckIntervalSeconds: 10, UnhealthyThresholdCount: 3})
	if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTargetsUnhealthy}); err != nil {
		t.Fatal(err)
	}
	b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "fail:v2"), "green", "d")
	tm := b.sim.Timings()
	// RUNNING and registered, registration done, then three failed checks.
	b.sim.Advance(tm.Provision + tm.Start + tm.Registration + 29*time.Second)
	h := b.health(t, sd.TargetGroupArns["green"])
	if len(h) != 1 || h[0].TargetHealth.State != elbtypes.TargetHealthStateEnumInitial {
		t.Fatalf("after two failed checks: %+v", h)
	}
	b.sim.Advance(time.Second)
	h = b.health(t, sd.TargetGroupArns["green"])
	if len(h) != 1 || h[0].TargetHealth.State != elbtypes.TargetHealthStateEnumUnhealthy || h[0].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumFailedHealthChecks {
		t.Fatalf("after three failed checks: %+v", h)
	}
}

// TestDeregistrationDelay: a deregistered target drains for its target
// group's deregistration_delay.timeout_seconds, and so does a stopping
// task; deregistering a target that is not registered is no error.
func TestDeregistrationDelay(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "drain", DesiredCount: 1})
	setDelay := func(tg, seconds string) {
		t.Helper()
		if _, err := b.elb.ModifyTargetGroupAttributes(b.ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: &tg,
			Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: &seconds}}}); err != nil {
			t.Fatal(err)
		}
	}
	green, id := sd.TargetGroupArns["green"], "10.9.0.2"
	setDelay(green, "42")
	targets := []elbtypes.TargetDescription{{Id: &id}}
	if _, err := b.elb.RegisterTargets(b.ctx, &elb.RegisterTargetsInput{TargetGroupArn: &green, Targets: targets}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.elb.DeregisterTargets(b.ctx, &elb.DeregisterTargetsInput{TargetGroupArn: &green, Targets: targets}); err != nil {
		t.Fatal(err)
	}
	b.sim.Advance(41 * time.Second)
	if got := b.targetState(t, green, id); got.State != elbtypes.TargetHealthStateEnumDraining || got.Reason != elbtypes.TargetHealthReasonEnumDeregistrationInProgress {
		t.Fatalf("41 s into a 42 s delay: %s %s", got.State, got.Reason)
	}
	b.sim.Advance(time.Second)
	if got := b.targetState(t, green, id); got.State != elbtypes.TargetHealthStateEnumUnused || got.Reason != elbtypes.TargetHealthReasonEnumNotRegistered {
		t.Fatalf("after the delay: %s %s", got.State, got.Reason)
	}

	t.Run("not registered", func(t *testing.T) {
		if _, err := b.elb.DeregisterTargets(b.ctx, &elb.DeregisterTargetsInput{TargetGroupArn: &green,
			Targets: []elbtypes.TargetDescription{{Id: aws.String("10.9.9.9")}}}); err != nil {
			t.Fatalf("deregistering an unregistered target: %v", err)
		}
		if h := b.health(t, green); len(h) != 0 {
			t.Fatalf("green targets: %+v", h)
		}
	})

	t.Run("stopping task", func(t *testing.T) {
		blue := sd.TargetGroupArns["blue"]
		setDelay(blue, "30")
		if _, err := b.ecs.UpdateTaskSet(b.ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service,
			TaskSet: &sd.PrimaryTaskSetArn, Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 0}}); err != nil {
			t.Fatal(err)
		}
		status := func() string {
			out, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, DesiredStatus: ecstypes.DesiredStatusStopped})
			if err != nil || len(out.TaskArns) != 1 {
				t.Fatalf("stopping tasks: %v %v", out, err)
			}
			tasks, err := b.ecs.DescribeTasks(b.ctx, &ecs.DescribeTasksInput{Cluster: &sd.Cluster, Tasks: out.TaskArns})
			if err != nil {
				t.Fatal(err)
			}
			return *tasks.Tasks[0].LastStatus
		}
		b.sim.Advance(29 * time.Second)
		if got := status(); got != "DEACTIVATING" {
			t.Fatalf("29 s into a 30 s delay the task is %s", got)
		}
		b.sim.Advance(time.Second)
		if got := status(); got != "STOPPING" {
			t.Fatalf("after the delay the task is %s", got)
		}
	})
}

// TestUnhealthyTasksReplaced: the ECS scheduler stops a task whose target
// fails its health checks, naming the target group, and replaces it; a
// service's health check grace period holds the stop back until it ends,
// counted from the task's start.
func TestUnhealthyTasksReplaced(t *testing.T) {
	for _, c := range []struct {
		name  string
		grace int32
	}{
		{"no grace period", 0},
		{"grace period", 120},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBed(t, awsim.Config{})
			sd := b.seed(t, awsim.Scenario{Name: "grace", DesiredCount: 1})
			if _, err := b.ecs.UpdateService(b.ctx, &ecs.UpdateServiceInput{Cluster: &sd.Cluster, Service: &sd.Service,
				HealthCheckGracePeriodSeconds: aws.Int32(c.grace)}); err != nil {
				t.Fatal(err)
			}
			if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTargetsUnhealthy}); err != nil {
				t.Fatal(err)
			}
			ts := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "grace:v2"), "green", "d")
			tm := b.sim.Timings()
			started := tm.Provision + tm.Start
			// Seeded settings: unhealthy 10 s after registration completes.
			unhealthy := started + tm.Registration + 10*time.Second
			stop := max(unhealthy+tm.Unhealthy, started+time.Duration(c.grace)*time.Second)
			b.sim.Advance(stop - time.Second)
			if got := b.stoppedTasks(t, sd, *ts.Id); len(got) != 0 {
				t.Fatalf("a second before the stop: %d stopped tasks", len(got))
			}
			b.sim.Advance(time.Second)
			got := b.stoppedTasks(t, sd, *ts.Id)
			if len(got) != 1 || got[0].StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
				*got[0].StoppedReason != "Task failed ELB health checks in (target-group "+sd.TargetGroupArns["green"]+")" {
				t.Fatalf("stopped tasks: %+v", got)
			}
			// Once it has stopped, a replacement starts.
			b.waitFor(t, time.Minute, "a replacement task", func() bool {
				out, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, StartedBy: ts.Id})
				if err != nil {
					t.Fatal(err)
				}
				return len(out.TaskArns) == 1 && out.TaskArns[0] != *got[0].TaskArn
			})
		})
	}
}

// TestSetTargetHealthControl: failing a whole target group holds for the
// targets registered later too (the replacements of the tasks the scheduler
// stops), until it passes again; naming a target fails only it.
func TestSetTargetHealthControl(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "hc", DesiredCount: 2})
	blue := sd.TargetGroupArns["blue"]
	states := func() map[elbtypes.TargetHealthStateEnum]int {
		n := map[elbtypes.TargetHealthStateEnum]int{}
		for _, d := range b.health(t, blue) {
			n[d.TargetHealth.State]++
		}
		return n
	}
	if err := b.sim.FailTargetGroup(blue, true); err != nil {
		t.Fatal(err)
	}
	// The scheduler replaces the failing tasks; their targets fail as well.
	for range 300 {
		b.sim.Advance(time.Second)
		if n := states(); n[elbtypes.TargetHealthStateEnumHealthy] != 0 {
			t.Fatalf("a target of the failing target group is healthy: %v", n)
		}
	}
	if n := b.stoppedTasks(t, sd, sd.PrimaryTaskSetArn); len(n) < 4 {
		t.Fatalf("%d tasks stopped in five minutes, want the seeded ones and their replacements", len(n))
	}
	if err := b.sim.FailTargetGroup(blue, false); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, 5*time.Minute, "the target group to pass its checks again", func() bool {
		n := states()
		return n[elbtypes.TargetHealthStateEnumHealthy] == 2 && n[elbtypes.TargetHealthStateEnumUnhealthy] == 0 && n[elbtypes.TargetHealthStateEnumInitial] == 0
	})
	// One target named: only it fails.
	one := aws.ToString(b.health(t, blue)[0].Target.Id)
	if err := b.sim.SetTargetHealth(blue, false, one); err != nil {
		t.Fatal(err)
	}
	for _, d := range b.health(t, blue) {
		want := elbtypes.TargetHealthStateEnumHealthy
		if aws.ToString(d.Target.Id) == one {
			want = elbtypes.TargetHealthStateEnumUnhealthy
		}
		if d.TargetHealth.State != want {
			t.Fatalf("target %s is %s, want %s", aws.ToString(d.Target.Id), d.TargetHealth.State, want)
		}
	}
}
