package awsim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/awsim"
)

// TestListTasksFilters: startedBy and serviceName exclude other filters,
// the desired status is RUNNING unless given, and pages hold 1 to 100.
func TestListTasksFilters(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "lt"})
	green := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "lt:v2"), "green", "d")
	b.waitFor(t, 2*time.Minute, "green steady", func() bool {
		return b.taskSet(t, sd, *green.Id).StabilityStatus == ecstypes.StabilityStatusSteadyState
	})
	if _, err := b.ecs.UpdateTaskSet(b.ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: green.Id,
		Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 0}}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, 2*time.Minute, "green scaled in", func() bool {
		got := b.taskSet(t, sd, *green.Id)
		return got.RunningCount == 0 && got.StabilityStatus == ecstypes.StabilityStatusSteadyState
	})

	refused := []struct {
		name    string
		in      ecs.ListTasksInput
		message string
	}{
		{"startedBy and family", ecs.ListTasksInput{StartedBy: green.Id, Family: aws.String("lt")}, "cannot specify startedBy with other arguments"},
		{"startedBy and serviceName", ecs.ListTasksInput{StartedBy: green.Id, ServiceName: &sd.Service}, "cannot specify startedBy with other arguments"},
		{"startedBy and launchType", ecs.ListTasksInput{StartedBy: green.Id, LaunchType: ecstypes.LaunchTypeFargate}, "cannot specify startedBy with other arguments"},
		{"serviceName and family", ecs.ListTasksInput{ServiceName: &sd.Service, Family: aws.String("lt")}, "cannot specify serviceName with other arguments"},
		{"startedBy over 36 characters", ecs.ListTasksInput{StartedBy: aws.String("ecscompose-production_prod-ecscpu1_alerts")}, "startedBy longer than 36."},
		{"maxResults 0", ecs.ListTasksInput{MaxResults: aws.Int32(0)}, "maxResults must be between 1 and 100."},
		{"maxResults 101", ecs.ListTasksInput{MaxResults: aws.Int32(101)}, "maxResults must be between 1 and 100."},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			in.Cluster = &sd.Cluster
			_, err := b.ecs.ListTasks(b.ctx, &in)
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}
	list := func(in ecs.ListTasksInput) []string {
		t.Helper()
		in.Cluster = &sd.Cluster
		out, err := b.ecs.ListTasks(b.ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return out.TaskArns
	}
	t.Run("startedBy alone lists no stopped task", func(t *testing.T) {
		if got := list(ecs.ListTasksInput{StartedBy: green.Id}); len(got) != 0 {
			t.Fatalf("startedBy alone: %v, want none (its tasks stopped)", got)
		}
		if got := list(ecs.ListTasksInput{StartedBy: green.Id, DesiredStatus: ecstypes.DesiredStatusStopped}); len(got) != 2 {
			t.Fatalf("startedBy with desiredStatus STOPPED: %v, want 2", got)
		}
	})
	t.Run("serviceName with desiredStatus and launchType", func(t *testing.T) {
		if got := list(ecs.ListTasksInput{ServiceName: &sd.Service, LaunchType: ecstypes.LaunchTypeFargate}); len(got) != 2 {
			t.Fatalf("running tasks of the service: %v, want the seeded 2", got)
		}
	})
}

// TestDescribeTasksCount: DescribeTasks takes 1 to 100 tasks.
func TestDescribeTasksCount(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "dt"})
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("%032x", i)
	}
	cases := []struct {
		name    string
		tasks   []string
		message string
	}{
		{"none", []string{}, "Tasks cannot be empty."},
		{"101", many, "taskIds can have at most 100 items."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.ecs.DescribeTasks(b.ctx, &ecs.DescribeTasksInput{Cluster: &sd.Cluster, Tasks: c.tasks})
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}
	out, err := b.ecs.DescribeTasks(b.ctx, &ecs.DescribeTasksInput{Cluster: &sd.Cluster, Tasks: many[:100]})
	if err != nil || len(out.Failures) != 100 {
		t.Fatalf("100 unknown tasks: err %v, %d failures", err, len(out.Failures))
	}
}

// TestListServicesPages: ListServices pages by 10 unless told otherwise.
func TestListServicesPages(t *testing.T) {
	b := newBed(t, awsim.Config{})
	if _, err := b.ecs.CreateCluster(b.ctx, &ecs.CreateClusterInput{ClusterName: aws.String("many")}); err != nil {
		t.Fatal(err)
	}
	for i := range 11 {
		if _, err := b.ecs.CreateService(b.ctx, &ecs.CreateServiceInput{Cluster: aws.String("many"), ServiceName: aws.String(fmt.Sprintf("s%02d", i)),
			DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeExternal}}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := b.ecs.ListServices(b.ctx, &ecs.ListServicesInput{Cluster: aws.String("many")})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.ServiceArns) != 10 || first.NextToken == nil {
		t.Fatalf("first page: %d services, next token %v, want 10 and a token", len(first.ServiceArns), first.NextToken)
	}
	rest, err := b.ecs.ListServices(b.ctx, &ecs.ListServicesInput{Cluster: aws.String("many"), NextToken: first.NextToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.ServiceArns) != 1 || rest.NextToken != nil {
		t.Fatalf("second page: %d services, next token %v", len(rest.ServiceArns), rest.NextToken)
	}
	_, err = b.ecs.ListServices(b.ctx, &ecs.ListServicesInput{Cluster: aws.String("many"), MaxResults: aws.Int32(101)})
	wantAPIError(t, err, "InvalidParameterException", "maxResults must be between 1 and 100.")
}
