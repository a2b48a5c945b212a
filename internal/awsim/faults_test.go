package awsim_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/faults"
)

func TestTaskSetFaults(t *testing.T) {
	t.Run("tasks exit", func(t *testing.T) {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "crash"})
		if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTasksExit, ExitCode: 137, StopReason: "OutOfMemoryError: Container killed"}); err != nil {
			t.Fatal(err)
		}
		ts := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "crash:v2"), "green", "d")
		var stopped []string
		b.waitFor(t, 2*time.Minute, "a stopped task", func() bool {
			out, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, StartedBy: ts.Id, DesiredStatus: ecstypes.DesiredStatusStopped})
			if err != nil {
				t.Fatal(err)
			}
			stopped = out.TaskArns
			return len(stopped) > 0
		})
		b.sim.Advance(time.Minute)
		out, err := b.ecs.DescribeTasks(b.ctx, &ecs.DescribeTasksInput{Cluster: &sd.Cluster, Tasks: stopped})
		if err != nil {
			t.Fatal(err)
		}
		task := out.Tasks[0]
		if *task.LastStatus != "STOPPED" || !strings.Contains(*task.StoppedReason, "OutOfMemoryError") ||
			task.StopCode != ecstypes.TaskStopCodeEssentialContainerExited || *task.Containers[0].ExitCode != 137 {
			t.Fatalf("stopped task: %s %q %s exit %v", *task.LastStatus, *task.StoppedReason, task.StopCode, task.Containers[0].ExitCode)
		}
		if got := b.taskSet(t, sd, *ts.Id); got.StabilityStatus != ecstypes.StabilityStatusStabilizing {
			t.Fatalf("crashing task set is %s", got.StabilityStatus)
		}
		// The seeded task set, created before the fault, is untouched.
		if got := b.taskSet(t, sd, sd.PrimaryTaskSetArn); got.RunningCount != 2 {
			t.Fatalf("seeded task set running %d", got.RunningCount)
		}
	})
	t.Run("targets unhealthy", func(t *testing.T) {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "sick"})
		if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultTargetsUnhealthy, Service: "sick"}); err != nil {
			t.Fatal(err)
		}
		ts := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "sick:v2"), "green", "d")
		// The targets fail two checks five seconds apart and turn unhealthy.
		b.waitFor(t, time.Minute, "unhealthy green targets", func() bool {
			h := b.health(t, sd.TargetGroupArns["green"])
			return len(h) == 2 && h[0].TargetHealth.State == elbtypes.TargetHealthStateEnumUnhealthy &&
				h[0].TargetHealth.Reason == elbtypes.TargetHealthReasonEnumFailedHealthChecks
		})
		// The scheduler stops those tasks, then replaces them with tasks
		// that fail the same way: the task set never settles.
		first := b.stoppedTasks(t, sd, *ts.Id)
		b.sim.Advance(3 * time.Minute)
		stopped := b.stoppedTasks(t, sd, *ts.Id)
		if len(stopped) < 4 || len(first) != 0 {
			t.Fatalf("stopped tasks: %d at first, %d after 3 minutes; want 0, then at least 4", len(first), len(stopped))
		}
		for _, task := range stopped {
			if task.StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
				*task.StoppedReason != "Task failed ELB health checks in (target-group "+sd.TargetGroupArns["green"]+")" {
				t.Fatalf("stopped task: %s %q", task.StopCode, *task.StoppedReason)
			}
		}
		if got := b.taskSet(t, sd, *ts.Id); got.StabilityStatus != ecstypes.StabilityStatusStabilizing || got.ComputedDesiredCount != 2 {
			t.Fatalf("task set %s, computed desired %d; want STABILIZING, 2", got.StabilityStatus, got.ComputedDesiredCount)
		}
	})
	t.Run("never stabilizes", func(t *testing.T) {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "stuck"})
		if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultNeverStabilize}); err != nil {
			t.Fatal(err)
		}
		ts := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "stuck:v2"), "green", "d")
		b.sim.Advance(10 * time.Minute)
		if got := b.taskSet(t, sd, *ts.Id); got.PendingCount != 2 || got.RunningCount != 0 || got.StabilityStatus != ecstypes.StabilityStatusStabilizing {
			t.Fatalf("stuck task set: pending %d running %d %s", got.PendingCount, got.RunningCount, got.StabilityStatus)
		}
	})
	t.Run("health forced unhealthy", func(t *testing.T) {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "flip"})
		if err := b.sim.SetTargetHealth(sd.TargetGroupArns["blue"], false); err != nil {
			t.Fatal(err)
		}
		if d := b.sim.Downtime(); len(d) != 1 || !d[0].End.IsZero() {
			t.Fatalf("serving target group made unhealthy: downtime %+v", d)
		}
		// The scheduler replaces the seeded tasks; their replacements pass
		// their checks and the outage ends.
		b.waitFor(t, 2*time.Minute, "blue healthy again", func() bool { return allHealthy(b.health(t, sd.TargetGroupArns["blue"])) })
		stopped := b.stoppedTasks(t, sd, sd.PrimaryTaskSetArn)
		if len(stopped) != 2 || stopped[0].StopCode != ecstypes.TaskStopCodeServiceSchedulerInitiated ||
			!strings.HasPrefix(*stopped[0].StoppedReason, "Task failed ELB health checks in (target-group ") {
			t.Fatalf("stopped seeded tasks: %+v", stopped)
		}
		if d := b.sim.Downtime(); len(d) != 1 || d[0].End.IsZero() {
			t.Fatalf("after the replacement: downtime %+v, want one closed outage", d)
		}
	})
	t.Run("spot interruption", func(t *testing.T) {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "spot"})
		if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: awsim.FaultSpotInterruption}); err != nil {
			t.Fatal(err)
		}
		ts := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "spot:v2"), "green", "d")
		b.waitFor(t, 5*time.Minute, "steady after the interruptions", func() bool {
			return b.taskSet(t, sd, *ts.Id).StabilityStatus == ecstypes.StabilityStatusSteadyState
		})
		stopped := b.stoppedTasks(t, sd, *ts.TaskSetArn)
		if len(stopped) != 2 {
			t.Fatalf("%d stopped tasks, want the 2 of the first generation", len(stopped))
		}
		for _, task := range stopped {
			if task.StopCode != ecstypes.TaskStopCodeSpotInterruption || *task.StoppedReason != "Your Spot Task was interrupted." {
				t.Fatalf("stopped task: %s %q", task.StopCode, *task.StoppedReason)
			}
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		b := newBed(t, awsim.Config{})
		if err := b.sim.AddTaskSetFault(awsim.TaskSetFault{Kind: "explode"}); err == nil {
			t.Fatal("unknown fault kind accepted")
		}
	})
}

// stoppedTasks describes the stopped tasks a task set, named by ID or ARN,
// started.
func (b *bed) stoppedTasks(t *testing.T, sd awsim.Seeded, taskSet string) []ecstypes.Task {
	t.Helper()
	id := taskSet[strings.Index(taskSet, "ecs-svc/"):]
	out, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, StartedBy: &id, DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TaskArns) == 0 {
		return nil
	}
	tasks, err := b.ecs.DescribeTasks(b.ctx, &ecs.DescribeTasksInput{Cluster: &sd.Cluster, Tasks: out.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	return tasks.Tasks
}

func TestAPIFaults(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "api"})
	describe := func(c *ecs.Client) error {
		_, err := c.DescribeServices(b.ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
		return err
	}
	noRetry := ecs.NewFromConfig(sdkConfig(b.url, 1))

	t.Run("throttling is retried by the SDK", func(t *testing.T) {
		b.sim.ResetCalls()
		if err := b.sim.Faults().Add(faults.Rule{Operation: "DescribeServices", ThrottleRate: 1, Times: 2}); err != nil {
			t.Fatal(err)
		}
		if err := describe(b.ecs); err != nil {
			t.Fatalf("with 3 attempts: %v", err)
		}
		if n := b.sim.CallCounts()["DescribeServices"]; n != 3 {
			t.Fatalf("DescribeServices calls = %d, want 3 (two throttled)", n)
		}
	})
	t.Run("throttling error code", func(t *testing.T) {
		if err := b.sim.Faults().Add(faults.Rule{Operation: "DescribeServices", ThrottleRate: 1, Times: 1}); err != nil {
			t.Fatal(err)
		}
		var ae smithy.APIError
		if err := describe(noRetry); !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("5xx", func(t *testing.T) {
		if err := b.sim.Faults().Add(faults.Rule{ErrorRate: 1, Times: 1}); err != nil {
			t.Fatal(err)
		}
		var re interface{ HTTPStatusCode() int }
		if err := describe(noRetry); !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("dropped connection", func(t *testing.T) {
		if err := b.sim.Faults().Add(faults.Rule{Operation: "DescribeServices", DropRate: 1, Times: 1}); err != nil {
			t.Fatal(err)
		}
		if err := describe(noRetry); err == nil {
			t.Fatal("dropped connection gave no error")
		}
		if err := describe(noRetry); err != nil {
			t.Fatalf("after the one drop: %v", err)
		}
	})
	t.Run("latency", func(t *testing.T) {
		if err := b.sim.Faults().Add(faults.Rule{Operation: "DescribeServices", Latency: 50 * time.Millisecond, Times: 1}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := describe(noRetry); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 50*time.Millisecond {
			t.Fatal("latency not applied")
		}
		b.sim.Faults().Clear()
	})
	t.Run("bad rule", func(t *testing.T) {
		if err := b.sim.Faults().Add(faults.Rule{ThrottleRate: 2}); err == nil {
			t.Fatal("rate 2 accepted")
		}
	})
	if got := b.sim.Faults().Injected(); got[faults.Throttle] != 3 || got[faults.Error] != 1 || got[faults.Drop] != 1 {
		t.Fatalf("injected: %v", got)
	}
}
