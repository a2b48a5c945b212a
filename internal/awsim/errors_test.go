package awsim_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"ecs-deploy/internal/awsim"
)

// TestTypedErrors checks that each error comes back in the shape the SDK
// turns into its typed error.
func TestTypedErrors(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "err"})
	td := b.registerTaskDef(t, sd, "err:v2")
	green := b.createTaskSet(t, sd, td, "green", "x")
	ctx := b.ctx

	is := func(target any) func(error) bool {
		return func(err error) bool { return errors.As(err, target) }
	}
	code := func(want string) func(error) bool {
		return func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == want
		}
	}
	cases := []struct {
		name  string
		call  func(context.Context) error
		match func(error) bool
	}{
		{"DescribeTaskSets unknown service", func(ctx context.Context) error {
			_, err := b.ecs.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: aws.String("nope")})
			return err
		}, is(new(*ecstypes.ServiceNotFoundException))},
		{"UpdateTaskSet unknown task set", func(ctx context.Context) error {
			_, err := b.ecs.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service,
				TaskSet: aws.String("ecs-svc/0000000000000000001"), Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 0}})
			return err
		}, is(new(*ecstypes.TaskSetNotFoundException))},
		{"DeleteTaskSet unknown task set", func(ctx context.Context) error {
			_, err := b.ecs.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: aws.String("ecs-svc/1")})
			return err
		}, is(new(*ecstypes.TaskSetNotFoundException))},
		{"DeleteTaskSet primary", func(ctx context.Context) error {
			_, err := b.ecs.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: &sd.PrimaryTaskSetArn, Force: aws.Bool(true)})
			return err
		}, is(new(*ecstypes.InvalidParameterException))},
		{"UpdateTaskSet scale out of range", func(ctx context.Context) error {
			_, err := b.ecs.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service,
				TaskSet: green.Id, Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 150}})
			return err
		}, is(new(*ecstypes.InvalidParameterException))},
		{"CreateTaskSet container not in task definition", func(ctx context.Context) error {
			_, err := b.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskDefinition: &td,
				NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: sd.Subnets}},
				LoadBalancers:        []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(sd.TargetGroupArns["green"]), ContainerName: aws.String("other"), ContainerPort: aws.Int32(80)}}})
			return err
		}, is(new(*ecstypes.InvalidParameterException))},
		{"CreateTaskSet unknown task definition", func(ctx context.Context) error {
			_, err := b.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskDefinition: aws.String("nope:9")})
			return err
		}, is(new(*ecstypes.ClientException))},
		{"DescribeTaskDefinition missing", func(ctx context.Context) error {
			_, err := b.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("missing:1")})
			return err
		}, is(new(*ecstypes.ClientException))},
		{"RegisterTaskDefinition without image", func(ctx context.Context) error {
			_, err := b.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("f"),
				ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("c")}}})
			return err
		}, is(new(*ecstypes.ClientException))},
		{"DescribeServices unknown cluster", func(ctx context.Context) error {
			_, err := b.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("nope"), Services: []string{"x"}})
			return err
		}, is(new(*ecstypes.ClusterNotFoundException))},
		{"CreateService twice", func(ctx context.Context) error {
			_, err := b.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: &sd.Cluster, ServiceName: &sd.Service,
				DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeExternal}})
			return err
		}, is(new(*ecstypes.InvalidParameterException))},
		{"UpdateService unknown", func(ctx context.Context) error {
			_, err := b.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: &sd.Cluster, Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
			return err
		}, is(new(*ecstypes.ServiceNotFoundException))},
		{"SetRulePriorities clash", func(ctx context.Context) error {
			_, err := b.elb.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
				{RuleArn: aws.String(sd.RuleArns["blue"]), Priority: aws.Int32(20)}}})
			return err
		}, is(new(*elbtypes.PriorityInUseException))},
		{"SetRulePriorities unknown rule", func(ctx context.Context) error {
			_, err := b.elb.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
				{RuleArn: aws.String(sd.RuleArns["blue"] + "0"), Priority: aws.Int32(5)}}})
			return err
		}, is(new(*elbtypes.RuleNotFoundException))},
		{"SetRulePriorities out of range", func(ctx context.Context) error {
			_, err := b.elb.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
				{RuleArn: aws.String(sd.RuleArns["blue"]), Priority: aws.Int32(50001)}}})
			return err
		}, code("ValidationError")},
		{"CreateRule priority taken", func(ctx context.Context) error {
			_, err := b.elb.CreateRule(ctx, &elb.CreateRuleInput{ListenerArn: &sd.ListenerArn, Priority: aws.Int32(10),
				Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/x"}}},
				Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(sd.TargetGroupArns["blue"])}}})
			return err
		}, is(new(*elbtypes.PriorityInUseException))},
		{"DescribeRules unknown rule", func(ctx context.Context) error {
			_, err := b.elb.DescribeRules(ctx, &elb.DescribeRulesInput{RuleArns: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/x/1/2/3"}})
			return err
		}, is(new(*elbtypes.RuleNotFoundException))},
		{"DescribeRules with nothing named", func(ctx context.Context) error {
			_, err := b.elb.DescribeRules(ctx, &elb.DescribeRulesInput{})
			return err
		}, code("ValidationError")},
		{"ModifyRule to a missing target group", func(ctx context.Context) error {
			_, err := b.elb.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: aws.String(sd.RuleArns["green"]),
				Actions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/none/1")}}})
			return err
		}, is(new(*elbtypes.TargetGroupNotFoundException))},
		{"DescribeListeners unknown", func(ctx context.Context) error {
			_, err := b.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{sd.ListenerArn + "x"}})
			return err
		}, is(new(*elbtypes.ListenerNotFoundException))},
		{"DescribeLoadBalancers unknown", func(ctx context.Context) error {
			_, err := b.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{"nope"}})
			return err
		}, is(new(*elbtypes.LoadBalancerNotFoundException))},
		{"DeleteRule default", func(ctx context.Context) error {
			rules, err := b.elb.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn})
			if err != nil {
				return err
			}
			_, err = b.elb.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: rules.Rules[len(rules.Rules)-1].RuleArn})
			return err
		}, is(new(*elbtypes.OperationNotPermittedException))},
		{"DescribeTargetHealth unknown group", func(ctx context.Context) error {
			_, err := b.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/none/1")})
			return err
		}, is(new(*elbtypes.TargetGroupNotFoundException))},
		{"CreateTargetGroup same name, other settings", func(ctx context.Context) error {
			_, err := b.elb.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("err-blue"), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(9999), VpcId: aws.String("vpc-1")})
			return err
		}, is(new(*elbtypes.DuplicateTargetGroupNameException))},
		{"CreateListener on a taken port", func(ctx context.Context) error {
			_, err := b.elb.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: &sd.LoadBalancerArn, Port: aws.Int32(80),
				DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(sd.TargetGroupArns["blue"])}}})
			return err
		}, is(new(*elbtypes.DuplicateListenerException))},
		{"CreateLoadBalancer bad name", func(ctx context.Context) error {
			_, err := b.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("-bad_name-")})
			return err
		}, code("ValidationError")},
		{"ListTagsForResource unknown", func(ctx context.Context) error {
			_, err := b.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:service/err/none")})
			return err
		}, is(new(*ecstypes.InvalidParameterException))},
		{"UpdateServicePrimaryTaskSet unknown", func(ctx context.Context) error {
			_, err := b.ecs.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, PrimaryTaskSet: aws.String("ecs-svc/42")})
			return err
		}, is(new(*ecstypes.TaskSetNotFoundException))},
		{"SetAlarmState unknown alarm", func(ctx context.Context) error {
			_, err := b.cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("none"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("x")})
			return err
		}, is(new(*cwtypes.ResourceNotFound))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(ctx)
			if err == nil || !c.match(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
		})
	}
	// None of the failed calls changed the serving rule.
	if p := b.priorities(t, sd.ListenerArn); p[sd.RuleArns["blue"]] != "10" || p[sd.RuleArns["green"]] != "20" {
		t.Fatalf("priorities changed by failed calls: %v", p)
	}
}

// TestSetRulePrioritiesAtomic: a request whose result would clash changes
// nothing, even the pairs that alone would be fine.
func TestSetRulePrioritiesAtomic(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "atom"})
	extra, err := b.elb.CreateRule(b.ctx, &elb.CreateRuleInput{ListenerArn: &sd.ListenerArn, Priority: aws.Int32(30),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/admin"}}},
		Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(sd.TargetGroupArns["blue"])}}})
	if err != nil {
		t.Fatal(err)
	}
	before := b.priorities(t, sd.ListenerArn)
	_, err = b.elb.SetRulePriorities(b.ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
		{RuleArn: aws.String(sd.RuleArns["blue"]), Priority: aws.Int32(5)},   // fine alone
		{RuleArn: aws.String(sd.RuleArns["green"]), Priority: aws.Int32(30)}, // clashes with extra
	}})
	var inUse *elbtypes.PriorityInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("err = %v, want PriorityInUse", err)
	}
	after := b.priorities(t, sd.ListenerArn)
	for arn, p := range before {
		if after[arn] != p {
			t.Fatalf("rule %s went from %s to %s in a failed call", arn, p, after[arn])
		}
	}
	// Rotating three priorities at once is fine: only the end state counts.
	_, err = b.elb.SetRulePriorities(b.ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
		{RuleArn: aws.String(sd.RuleArns["blue"]), Priority: aws.Int32(20)},
		{RuleArn: aws.String(sd.RuleArns["green"]), Priority: aws.Int32(30)},
		{RuleArn: extra.Rules[0].RuleArn, Priority: aws.Int32(10)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.priorities(t, sd.ListenerArn); p[*extra.Rules[0].RuleArn] != "10" || p[sd.RuleArns["green"]] != "30" {
		t.Fatalf("after rotation: %v", p)
	}
}
