package awsim_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/internal/awsim"
)

// TestBuildFromScratch creates a blue/green setup through the SDK alone and
// drives every operation that is not covered by the switch test.
func TestBuildFromScratch(t *testing.T) {
	b := newBed(t, awsim.Config{})
	ctx := b.ctx
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	cl, err := b.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod"),
		CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("FARGATE"), Base: 1, Weight: 1}, {CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}})
	must(err)
	clusters, err := b.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod", "missing"}})
	must(err)
	if len(clusters.Clusters) != 1 || *clusters.Clusters[0].ClusterArn != *cl.Cluster.ClusterArn || len(clusters.Failures) != 1 {
		t.Fatalf("DescribeClusters: %+v", clusters)
	}
	list, err := b.ecs.ListClusters(ctx, &ecs.ListClustersInput{})
	must(err)
	if len(list.ClusterArns) != 1 {
		t.Fatalf("ListClusters: %v", list.ClusterArns)
	}

	lb, err := b.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("api-alb"), Subnets: []string{"subnet-1", "subnet-2"}})
	must(err)
	lbArn := lb.LoadBalancers[0].LoadBalancerArn
	lbs, err := b.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{*lbArn}})
	must(err)
	if *lbs.LoadBalancers[0].LoadBalancerName != "api-alb" || lbs.LoadBalancers[0].State.Code != elbtypes.LoadBalancerStateEnumActive {
		t.Fatalf("DescribeLoadBalancers: %+v", lbs.LoadBalancers[0])
	}
	tgArns := map[string]string{}
	for _, colour := range []string{"blue", "green"} {
		tg, err := b.elb.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("api-" + colour), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(80), VpcId: aws.String("vpc-1"), TargetType: elbtypes.TargetTypeEnumIp})
		must(err)
		tgArns[colour] = *tg.TargetGroups[0].TargetGroupArn
	}
	ln, err := b.elb.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: lbArn, Port: aws.Int32(443), Protocol: elbtypes.ProtocolEnumHttp,
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbtypes.FixedResponseActionConfig{StatusCode: aws.String("404")}}}})
	must(err)
	lnArn := ln.Listeners[0].ListenerArn
	lns, err := b.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: lbArn})
	must(err)
	if len(lns.Listeners) != 1 || *lns.Listeners[0].Port != 443 {
		t.Fatalf("DescribeListeners: %+v", lns.Listeners)
	}
	ruleArns := map[string]string{}
	for i, colour := range []string{"blue", "green"} {
		r, err := b.elb.CreateRule(ctx, &elb.CreateRuleInput{ListenerArn: lnArn, Priority: aws.Int32(int32(100 + i)),
			Conditions: []elbtypes.RuleCondition{{Field: aws.String("host-header"), HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: []string{"api.example.com"}}}},
			Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgArns[colour])}}})
		must(err)
		ruleArns[colour] = *r.Rules[0].RuleArn
	}
	rules, err := b.elb.DescribeRules(ctx, &elb.DescribeRulesInput{RuleArns: []string{ruleArns["green"]}})
	must(err)
	if got := rules.Rules[0]; *got.Priority != "101" || got.Conditions[0].HostHeaderConfig.Values[0] != "api.example.com" ||
		*got.Actions[0].ForwardConfig.TargetGroups[0].TargetGroupArn != tgArns["green"] {
		t.Fatalf("DescribeRules kept: %+v", got)
	}
	tgs, err := b.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{LoadBalancerArn: lbArn})
	must(err)
	if len(tgs.TargetGroups) != 2 || tgs.TargetGroups[0].LoadBalancerArns[0] != *lbArn {
		t.Fatalf("DescribeTargetGroups by load balancer: %+v", tgs.TargetGroups)
	}

	// Targets registered by hand start initial while registering, then
	// initial while the first health check runs: one passing check makes a
	// new target healthy. Deregistered ones drain for the target group's
	// deregistration delay (300 s by default), then disappear.
	_, err = b.elb.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(tgArns["blue"]), Targets: []elbtypes.TargetDescription{{Id: aws.String("10.1.1.1")}}})
	must(err)
	if h := b.health(t, tgArns["blue"]); h[0].TargetHealth.State != elbtypes.TargetHealthStateEnumInitial ||
		h[0].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumRegistrationInProgress {
		t.Fatalf("new target: %s %s", h[0].TargetHealth.State, h[0].TargetHealth.Reason)
	}
	b.sim.Advance(b.sim.Timings().Registration)
	if h := b.health(t, tgArns["blue"]); h[0].TargetHealth.State != elbtypes.TargetHealthStateEnumInitial ||
		h[0].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumInitialHealthChecking {
		t.Fatalf("registered target: %s %s", h[0].TargetHealth.State, h[0].TargetHealth.Reason)
	}
	b.sim.Advance(30 * time.Second) // the default interval
	if h := b.health(t, tgArns["blue"]); h[0].TargetHealth.State != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("target after health checks: %s", h[0].TargetHealth.State)
	}
	_, err = b.elb.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(tgArns["blue"]), Targets: []elbtypes.TargetDescription{{Id: aws.String("10.1.1.1")}}})
	must(err)
	if h := b.health(t, tgArns["blue"]); h[0].TargetHealth.State != elbtypes.TargetHealthStateEnumDraining {
		t.Fatalf("deregistered target: %s", h[0].TargetHealth.State)
	}
	b.sim.Advance(299 * time.Second)
	if h := b.health(t, tgArns["blue"]); len(h) != 1 || h[0].TargetHealth.State != elbtypes.TargetHealthStateEnumDraining {
		t.Fatalf("target 299 s into a 300 s deregistration delay: %+v", h)
	}
	b.sim.Advance(time.Second)
	if h := b.health(t, tgArns["blue"]); len(h) != 0 {
		t.Fatalf("drained target still listed: %+v", h)
	}

	// ModifyRule and DeleteRule.
	_, err = b.elb.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: aws.String(ruleArns["green"]),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/v2/*"}}}})
	must(err)
	extra, err := b.elb.CreateRule(ctx, &elb.CreateRuleInput{ListenerArn: lnArn, Priority: aws.Int32(5),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/tmp"}}},
		Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbtypes.FixedResponseActionConfig{StatusCode: aws.String("200")}}}})
	must(err)
	_, err = b.elb.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: extra.Rules[0].RuleArn})
	must(err)
	if p := b.priorities(t, *lnArn); len(p) != 2 {
		t.Fatalf("rules after delete: %v", p)
	}

	// The service, its first task set, and the counts as it scales.
	td, err := b.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("api"), NetworkMode: ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate}, Cpu: aws.String(".5 vCPU"), Memory: aws.String("1 GB"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("api:1"), Essential: aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(80)}}}},
		Tags: []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("core")}}})
	must(err)
	tdArn := *td.TaskDefinition.TaskDefinitionArn
	if got := td.TaskDefinition; aws.ToString(got.Cpu) != "512" || aws.ToString(got.Memory) != "1024" ||
		len(got.Compatibilities) != 2 || got.Compatibilities[1] != ecstypes.CompatibilityFargate {
		t.Fatalf("registered cpu %q memory %q compatibilities %v, want 512, 1024, [EC2 FARGATE]", aws.ToString(got.Cpu), aws.ToString(got.Memory), got.Compatibilities)
	}
	desc, err := b.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("api"), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	must(err)
	if *desc.TaskDefinition.TaskDefinitionArn != tdArn || *desc.TaskDefinition.ContainerDefinitions[0].PortMappings[0].ContainerPort != 80 || len(desc.Tags) != 1 {
		t.Fatalf("DescribeTaskDefinition: %+v tags %v", desc.TaskDefinition, desc.Tags)
	}
	svc, err := b.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), DesiredCount: aws.Int32(2),
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeExternal}})
	must(err)
	svcs, err := b.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("prod")})
	must(err)
	if len(svcs.ServiceArns) != 1 || svcs.ServiceArns[0] != *svc.Service.ServiceArn {
		t.Fatalf("ListServices: %v", svcs.ServiceArns)
	}
	ts, err := b.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("prod"), Service: aws.String("api"), TaskDefinition: &tdArn,
		ExternalId: aws.String("first"), ClientToken: aws.String("tok-1"),
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}},
		LoadBalancers:        []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tgArns["blue"]), ContainerName: aws.String("web"), ContainerPort: aws.Int32(80)}}})
	must(err)
	again, err := b.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: aws.String("prod"), Service: aws.String("api"), TaskDefinition: &tdArn,
		ClientToken: aws.String("tok-1")})
	must(err)
	if *again.TaskSet.Id != *ts.TaskSet.Id {
		t.Fatalf("CreateTaskSet with the same client token made %s, want %s", *again.TaskSet.Id, *ts.TaskSet.Id)
	}
	_, err = b.ecs.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String("prod"), Service: aws.String("api"), PrimaryTaskSet: ts.TaskSet.Id})
	must(err)
	sd := awsim.Seeded{Cluster: "prod", Service: "api"}
	b.waitFor(t, time.Minute, "first task set steady", func() bool {
		return b.taskSet(t, sd, *ts.TaskSet.Id).StabilityStatus == ecstypes.StabilityStatusSteadyState
	})
	_, err = b.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("api"), DesiredCount: aws.Int32(4)})
	must(err)
	if got := b.taskSet(t, sd, *ts.TaskSet.Id); got.ComputedDesiredCount != 4 || got.StabilityStatus != ecstypes.StabilityStatusStabilizing {
		t.Fatalf("after desired count 4: computed %d, %s", got.ComputedDesiredCount, got.StabilityStatus)
	}
	b.waitFor(t, time.Minute, "four tasks running", func() bool { return b.taskSet(t, sd, *ts.TaskSet.Id).RunningCount == 4 })

	// ListTasks pages; DescribeTasks shows the task set as startedBy.
	var taskArns []string
	pager := ecs.NewListTasksPaginator(b.ecs, &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), MaxResults: aws.Int32(3)})
	for pager.HasMorePages() {
		p, err := pager.NextPage(ctx)
		must(err)
		taskArns = append(taskArns, p.TaskArns...)
	}
	if len(taskArns) != 4 {
		t.Fatalf("ListTasks paged: %d tasks, want 4", len(taskArns))
	}
	tasks, err := b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: taskArns})
	must(err)
	providers := map[string]int{}
	for _, task := range tasks.Tasks {
		if *task.LastStatus != "RUNNING" || *task.StartedBy != *ts.TaskSet.Id || *task.Group != "service:api" || task.LaunchType != ecstypes.LaunchTypeFargate {
			t.Fatalf("task %s: %s started by %s in %s on %s", *task.TaskArn, *task.LastStatus, *task.StartedBy, *task.Group, task.LaunchType)
		}
		providers[aws.ToString(task.CapacityProviderName)]++
	}
	// The cluster's default strategy: FARGATE takes the base task, then the
	// two providers share the rest.
	if providers["FARGATE"] < 2 || providers["FARGATE_SPOT"] < 1 || len(providers) != 2 {
		t.Fatalf("tasks per capacity provider: %v, want FARGATE (with the base task) and FARGATE_SPOT", providers)
	}
	if got := b.taskSet(t, sd, *ts.TaskSet.Id); got.LaunchType != "" || len(got.CapacityProviderStrategy) != 2 {
		t.Fatalf("task set without launch type or strategy: launch type %q, strategy %+v, want the cluster's default", got.LaunchType, got.CapacityProviderStrategy)
	}

	// Tags on a task set.
	_, err = b.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: ts.TaskSet.TaskSetArn, Tags: []ecstypes.Tag{{Key: aws.String("deploy-id"), Value: aws.String("d-42")}}})
	must(err)
	tags, err := b.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: ts.TaskSet.TaskSetArn})
	must(err)
	if len(tags.Tags) != 1 || *tags.Tags[0].Value != "d-42" {
		t.Fatalf("ListTagsForResource: %+v", tags.Tags)
	}

	// Deregistering the task definition leaves running tasks alone.
	dereg, err := b.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: &tdArn})
	must(err)
	if dereg.TaskDefinition.Status != ecstypes.TaskDefinitionStatusInactive {
		t.Fatalf("deregistered task definition: %s", dereg.TaskDefinition.Status)
	}
	if got := b.taskSet(t, sd, *ts.TaskSet.Id); got.RunningCount != 4 {
		t.Fatalf("running after deregistration: %d", got.RunningCount)
	}
}

// TestAlarms reads and sets alarms through the SDK (RPC v2 CBOR).
func TestAlarms(t *testing.T) {
	b := newBed(t, awsim.Config{})
	b.seed(t, awsim.Scenario{Name: "cw", Alarms: []string{"cw-5xx", "cw-latency"}})
	if _, err := b.cw.PutMetricAlarm(b.ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("other"), MetricName: aws.String("CPUUtilization"),
		Namespace: aws.String("AWS/ECS"), Threshold: aws.Float64(90), EvaluationPeriods: aws.Int32(2), Period: aws.Int32(60),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold, Statistic: cwtypes.StatisticAverage}); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetAlarm("cw-latency", "ALARM", "p99 over 2s"); err != nil {
		t.Fatal(err)
	}
	out, err := b.cw.DescribeAlarms(b.ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"cw-5xx", "cw-latency"}})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]cwtypes.StateValue{}
	for _, a := range out.MetricAlarms {
		states[*a.AlarmName] = a.StateValue
	}
	if len(states) != 2 || states["cw-5xx"] != cwtypes.StateValueOk || states["cw-latency"] != cwtypes.StateValueAlarm {
		t.Fatalf("alarm states: %v", states)
	}
	if _, err := b.cw.SetAlarmState(b.ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("other"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("test")}); err != nil {
		t.Fatal(err)
	}
	alarming, err := b.cw.DescribeAlarms(b.ctx, &cloudwatch.DescribeAlarmsInput{StateValue: cwtypes.StateValueAlarm})
	if err != nil {
		t.Fatal(err)
	}
	if len(alarming.MetricAlarms) != 2 {
		t.Fatalf("alarms in ALARM: %d, want 2", len(alarming.MetricAlarms))
	}
	for _, a := range alarming.MetricAlarms {
		if *a.AlarmName == "other" && (aws.ToFloat64(a.Threshold) != 90 || aws.ToString(a.StateReason) != "test") {
			t.Fatalf("alarm other: threshold %v reason %q", aws.ToFloat64(a.Threshold), aws.ToString(a.StateReason))
		}
		if a.StateUpdatedTimestamp == nil || a.StateUpdatedTimestamp.IsZero() {
			t.Fatalf("alarm %s has no StateUpdatedTimestamp", *a.AlarmName)
		}
	}
}
