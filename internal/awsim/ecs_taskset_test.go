package awsim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/internal/awsim"
)

// TestDescribeTaskSetsByID: DescribeTaskSets describes the task sets it is
// given, refuses a call without any or with an identifier that is not a
// task set's, and lists well-formed unknown ones as MISSING.
func TestDescribeTaskSetsByID(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "dts"})
	tasks, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, ServiceName: &sd.Service})
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name     string
		taskSets []string
		message  string
	}{
		{"no task sets", nil, "TaskSets cannot be empty."},
		{"a task ARN", []string{tasks.TaskArns[0]}, "Task Set Identifier is invalid"},
		{"digits without ecs-svc/", []string{"1234567890"}, "Task Set Identifier is invalid"},
		{"a valid ID and an invalid one", []string{sd.PrimaryTaskSetArn, "ts-1"}, "Task Set Identifier is invalid"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.ecs.DescribeTaskSets(b.ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSets: c.taskSets})
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}
	t.Run("unknown ID and ARN are MISSING", func(t *testing.T) {
		missingID := "ecs-svc/1234567890123456789"
		missingArn := "arn:aws:ecs:us-east-1:123456789012:task-set/dts/dts/ecs-svc/42"
		out, err := b.ecs.DescribeTaskSets(b.ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service,
			TaskSets: []string{sd.PrimaryTaskSetArn, missingID, missingArn}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.TaskSets) != 1 || *out.TaskSets[0].TaskSetArn != sd.PrimaryTaskSetArn {
			t.Fatalf("task sets: %+v, want the primary one", out.TaskSets)
		}
		want := []string{"arn:aws:ecs:us-east-1:123456789012:task-set/dts/dts/" + missingID, missingArn}
		if len(out.Failures) != 2 {
			t.Fatalf("failures: %+v, want 2", out.Failures)
		}
		for i, f := range out.Failures {
			if aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != want[i] {
				t.Errorf("failure %d: %s %s, want MISSING %s", i, aws.ToString(f.Reason), aws.ToString(f.Arn), want[i])
			}
		}
	})
}

// TestTaskSetLimit: a service has at most five task sets, and one being
// deleted counts until it is gone.
func TestTaskSetLimit(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "five"})
	td := b.registerTaskDef(t, sd, "five:v2")
	var ids []string
	for i := range 4 { // with the seeded one, five
		ids = append(ids, *b.createTaskSet(t, sd, td, "green", fmt.Sprintf("d%d", i)).Id)
	}
	sixth := func() error {
		_, err := b.ecs.CreateTaskSet(b.ctx, taskSetInput(sd, td, sd.TargetGroupArns["green"], "d5"))
		return err
	}
	const full = "5 deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit."
	wantAPIError(t, sixth(), "InvalidParameterException", full)

	if _, err := b.ecs.DeleteTaskSet(b.ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service,
		TaskSet: &ids[0], Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if got := b.taskSet(t, sd, ids[0]); aws.ToString(got.Status) != "DRAINING" {
		t.Fatalf("deleted task set is %s, want DRAINING", aws.ToString(got.Status))
	}
	wantAPIError(t, sixth(), "InvalidParameterException", full)

	b.waitFor(t, 2*time.Minute, "the deleted task set gone", func() bool { return len(b.taskSets(t, sd)) == 4 })
	if err := sixth(); err != nil {
		t.Fatalf("with the deleted task set gone: %v", err)
	}
}

// TestTaskSetTargetGroup: a task set's target group must be one a load
// balancer forwards to, by a listener's default action or a rule, and a
// task set has one load balancer.
func TestTaskSetTargetGroup(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "tg"})
	td := b.registerTaskDef(t, sd, "tg:v2")
	newTG := func(name string) string {
		t.Helper()
		out, err := b.elb.CreateTargetGroup(b.ctx, &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(int32(sd.ContainerPort)), VpcId: aws.String("vpc-1"), TargetType: elbtypes.TargetTypeEnumIp})
		if err != nil {
			t.Fatal(err)
		}
		return *out.TargetGroups[0].TargetGroupArn
	}
	loose := newTG("tg-loose")

	t.Run("unattached", func(t *testing.T) {
		_, err := b.ecs.CreateTaskSet(b.ctx, taskSetInput(sd, td, loose, "x"))
		wantAPIError(t, err, "InvalidParameterException", "The target group with targetGroupArn "+loose+" does not have an associated load balancer.")
	})
	t.Run("two load balancers", func(t *testing.T) {
		in := taskSetInput(sd, td, sd.TargetGroupArns["green"], "x")
		in.LoadBalancers = append(in.LoadBalancers, ecstypes.LoadBalancer{TargetGroupArn: aws.String(sd.TargetGroupArns["blue"]),
			ContainerName: aws.String(sd.ContainerName), ContainerPort: aws.Int32(int32(sd.ContainerPort))})
		_, err := b.ecs.CreateTaskSet(b.ctx, in)
		wantAPIError(t, err, "InvalidParameterException", "CreateTaskSet cannot have more than 1 load balancer.")
	})
	t.Run("attached by a rule", func(t *testing.T) {
		if _, err := b.elb.CreateRule(b.ctx, &elb.CreateRuleInput{ListenerArn: &sd.ListenerArn, Priority: aws.Int32(30),
			Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/loose"}}},
			Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(loose)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ecs.CreateTaskSet(b.ctx, taskSetInput(sd, td, loose, "x")); err != nil {
			t.Fatalf("target group behind a rule: %v", err)
		}
	})
	t.Run("attached by a default action", func(t *testing.T) {
		byDefault := newTG("tg-default")
		lb, err := b.elb.CreateLoadBalancer(b.ctx, &elb.CreateLoadBalancerInput{Name: aws.String("tg-other"), Subnets: sd.Subnets})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.elb.CreateListener(b.ctx, &elb.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
			Port: aws.Int32(80), Protocol: elbtypes.ProtocolEnumHttp,
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(byDefault)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ecs.CreateTaskSet(b.ctx, taskSetInput(sd, td, byDefault, "y")); err != nil {
			t.Fatalf("target group behind a default action: %v", err)
		}
	})
}

// TestCreateTaskSetRequest: the client token is up to 36 printable ASCII
// characters, and a network configuration goes with the awsvpc network
// mode and only with it.
func TestCreateTaskSetRequest(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "req"})
	fargateTD := b.registerTaskDef(t, sd, "req:v2")
	bridgeTD, err := b.ecs.RegisterTaskDefinition(b.ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("req-bridge"), Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String(sd.ContainerName), Image: aws.String("req:bridge")}}})
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name    string
		edit    func(*ecs.CreateTaskSetInput)
		message string
	}{
		{"client token over 36 characters", func(in *ecs.CreateTaskSetInput) {
			in.ClientToken = aws.String("deploy-2024-01-01T00:00:00Z-abcdefghij")
		}, `clientToken "deploy-2024-01-01T00:00:00Z-abcdefghij" is invalid: up to 36 ASCII characters in the range of 33-126 (inclusive) are allowed.`},
		{"client token with a space", func(in *ecs.CreateTaskSetInput) { in.ClientToken = aws.String("deploy 1") },
			`clientToken "deploy 1" is invalid: up to 36 ASCII characters in the range of 33-126 (inclusive) are allowed.`},
		{"awsvpc without network configuration", func(in *ecs.CreateTaskSetInput) { in.NetworkConfiguration = nil },
			"Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"network configuration on bridge", func(in *ecs.CreateTaskSetInput) {
			in.LaunchType, in.TaskDefinition, in.LoadBalancers = ecstypes.LaunchTypeEc2, bridgeTD.TaskDefinition.TaskDefinitionArn, nil
		}, "Network Configuration is not valid for the given networkMode of this task definition."},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			in := taskSetInput(sd, fargateTD, sd.TargetGroupArns["green"], "x")
			c.edit(in)
			_, err := b.ecs.CreateTaskSet(b.ctx, in)
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}
}

// TestTaskSetCapacity: where a task set's tasks run. A launch type or a
// strategy of capacity providers associated with the cluster, else the
// cluster's default strategy, else EC2, where the emulated clusters have
// no instance to place a task on; Fargate needs a task definition
// validated for it.
func TestTaskSetCapacity(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "cap"})
	fargateTD := b.registerTaskDef(t, sd, "cap:v2")
	ec2TD, err := b.ecs.RegisterTaskDefinition(b.ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("cap-ec2"),
		NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String(sd.ContainerName), Image: aws.String("cap:ec2"),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(int32(sd.ContainerPort))}}}}})
	if err != nil {
		t.Fatal(err)
	}
	strategy := func(names ...string) []ecstypes.CapacityProviderStrategyItem {
		var out []ecstypes.CapacityProviderStrategyItem
		for _, n := range names {
			out = append(out, ecstypes.CapacityProviderStrategyItem{CapacityProvider: aws.String(n), Weight: 1})
		}
		return out
	}
	refused := []struct {
		name    string
		edit    func(*ecs.CreateTaskSetInput)
		message string
	}{
		{"unknown launch type", func(in *ecs.CreateTaskSetInput) { in.LaunchType = "LAMBDA" },
			`launchType "LAMBDA" is not one of EC2, FARGATE, EXTERNAL.`},
		{"launch type and strategy", func(in *ecs.CreateTaskSetInput) { in.CapacityProviderStrategy = strategy("FARGATE") },
			"Specifying both a launch type and capacity provider strategy is not supported."},
		{"provider not associated", func(in *ecs.CreateTaskSetInput) {
			in.LaunchType, in.CapacityProviderStrategy = "", strategy("FARGATE", "my-asg")
		}, "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."},
		{"FARGATE without a Fargate task definition", func(in *ecs.CreateTaskSetInput) { in.TaskDefinition = ec2TD.TaskDefinition.TaskDefinitionArn },
			"Task definition does not support launch_type FARGATE."},
		{"FARGATE_SPOT without a Fargate task definition", func(in *ecs.CreateTaskSetInput) {
			in.LaunchType, in.CapacityProviderStrategy, in.TaskDefinition = "", strategy("FARGATE_SPOT"), ec2TD.TaskDefinition.TaskDefinitionArn
		}, "Task definition does not support launch_type FARGATE."},
		{"platform version on the EC2 fallback", func(in *ecs.CreateTaskSetInput) { in.LaunchType, in.PlatformVersion = "", aws.String("1.4.0") },
			"The platform version must be null when specifying an EC2 launch type."},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			in := taskSetInput(sd, fargateTD, sd.TargetGroupArns["green"], "x")
			c.edit(in)
			_, err := b.ecs.CreateTaskSet(b.ctx, in)
			wantAPIError(t, err, "InvalidParameterException", c.message)
		})
	}

	t.Run("no launch type and no default strategy: EC2, never placed", func(t *testing.T) {
		in := taskSetInput(sd, fargateTD, sd.TargetGroupArns["green"], "ec2")
		in.LaunchType = ""
		out, err := b.ecs.CreateTaskSet(b.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.TaskSet.LaunchType != ecstypes.LaunchTypeEc2 {
			t.Fatalf("launch type %q, want EC2", out.TaskSet.LaunchType)
		}
		b.sim.Advance(5 * time.Minute)
		got := b.taskSet(t, sd, *out.TaskSet.Id)
		if got.ComputedDesiredCount != 2 || got.RunningCount != 0 || got.PendingCount != 0 || got.StabilityStatus != ecstypes.StabilityStatusStabilizing {
			t.Fatalf("EC2 task set on a cluster without instances: desired %d running %d pending %d %s",
				got.ComputedDesiredCount, got.RunningCount, got.PendingCount, got.StabilityStatus)
		}
		if _, err := b.ecs.DeleteTaskSet(b.ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: out.TaskSet.Id, Force: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no launch type: the cluster's default strategy", func(t *testing.T) {
		if _, err := b.ecs.PutClusterCapacityProviders(b.ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: &sd.Cluster,
			CapacityProviders:               []string{"FARGATE", "FARGATE_SPOT"},
			DefaultCapacityProviderStrategy: strategy("FARGATE_SPOT")}); err != nil {
			t.Fatal(err)
		}
		in := taskSetInput(sd, fargateTD, sd.TargetGroupArns["green"], "spot")
		in.LaunchType = ""
		out, err := b.ecs.CreateTaskSet(b.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if s := out.TaskSet.CapacityProviderStrategy; len(s) != 1 || *s[0].CapacityProvider != "FARGATE_SPOT" || out.TaskSet.LaunchType != "" {
			t.Fatalf("task set strategy %+v launch type %q, want the default FARGATE_SPOT", s, out.TaskSet.LaunchType)
		}
		b.waitFor(t, 2*time.Minute, "spot task set steady", func() bool {
			return b.taskSet(t, sd, *out.TaskSet.Id).StabilityStatus == ecstypes.StabilityStatusSteadyState
		})
		tasks, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, StartedBy: out.TaskSet.Id})
		if err != nil {
			t.Fatal(err)
		}
		desc, err := b.ecs.DescribeTasks(b.ctx, &ecs.DescribeTasksInput{Cluster: &sd.Cluster, Tasks: tasks.TaskArns})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range desc.Tasks {
			if aws.ToString(task.CapacityProviderName) != "FARGATE_SPOT" || task.LaunchType != ecstypes.LaunchTypeFargate {
				t.Fatalf("task on %q %s, want FARGATE_SPOT FARGATE", aws.ToString(task.CapacityProviderName), task.LaunchType)
			}
		}
	})
}
