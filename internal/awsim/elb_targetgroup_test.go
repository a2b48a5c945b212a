package awsim_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/internal/awsim"
)

// wantAPIError fails unless err is the AWS error code with exactly msg.
// TestTargetGroupHealthCheckSettings: CreateTargetGroup and
// ModifyTargetGroup take the health check settings in AWS's ranges, with
// the ALB defaults, and refuse the rest without changing anything.
func TestTargetGroupHealthCheckSettings(t *testing.T) {
	b := newBed(t, awsim.Config{})
	create := func(name string, mod func(*elb.CreateTargetGroupInput)) (*elbtypes.TargetGroup, error) {
		in := &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
			VpcId: aws.String("vpc-1"), TargetType: elbtypes.TargetTypeEnumIp}
		if mod != nil {
			mod(in)
		}
		out, err := b.elb.CreateTargetGroup(b.ctx, in)
		if err != nil {
			return nil, err
		}
		return &out.TargetGroups[0], nil
	}
	tg, err := create("defaults", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(tg.HealthCheckEnabled) || aws.ToInt32(tg.HealthCheckIntervalSeconds) != 30 || aws.ToInt32(tg.HealthCheckTimeoutSeconds) != 5 ||
		aws.ToInt32(tg.HealthyThresholdCount) != 5 || aws.ToInt32(tg.UnhealthyThresholdCount) != 2 || aws.ToString(tg.HealthCheckPath) != "/" ||
		aws.ToString(tg.Matcher.HttpCode) != "200" || aws.ToString(tg.HealthCheckPort) != "traffic-port" {
		t.Fatalf("defaults: %+v", tg)
	}
	set, err := create("set", func(in *elb.CreateTargetGroupInput) {
		in.HealthCheckIntervalSeconds, in.HealthCheckTimeoutSeconds = aws.Int32(5), aws.Int32(2)
		in.HealthyThresholdCount, in.UnhealthyThresholdCount = aws.Int32(10), aws.Int32(3)
		in.HealthCheckPath, in.Matcher = aws.String("/health"), &elbtypes.Matcher{HttpCode: aws.String("200-299")}
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(set.HealthCheckIntervalSeconds) != 5 || aws.ToInt32(set.HealthCheckTimeoutSeconds) != 2 || aws.ToInt32(set.HealthyThresholdCount) != 10 ||
		aws.ToInt32(set.UnhealthyThresholdCount) != 3 || aws.ToString(set.HealthCheckPath) != "/health" || aws.ToString(set.Matcher.HttpCode) != "200-299" {
		t.Fatalf("settings given: %+v", set)
	}

	refused := []struct {
		name string
		mod  func(*elb.CreateTargetGroupInput)
		msg  string
	}{
		{"interval below 5", func(in *elb.CreateTargetGroupInput) { in.HealthCheckIntervalSeconds = aws.Int32(4) },
			"1 validation error detected: Value '4' at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have value greater than or equal to 5"},
		{"interval above 300", func(in *elb.CreateTargetGroupInput) { in.HealthCheckIntervalSeconds = aws.Int32(301) },
			"1 validation error detected: Value '301' at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have value less than or equal to 300"},
		{"timeout below 2", func(in *elb.CreateTargetGroupInput) { in.HealthCheckTimeoutSeconds = aws.Int32(1) },
			"1 validation error detected: Value '1' at 'healthCheckTimeoutSeconds' failed to satisfy constraint: Member must have value greater than or equal to 2"},
		{"timeout above 120", func(in *elb.CreateTargetGroupInput) { in.HealthCheckTimeoutSeconds = aws.Int32(121) },
			"1 validation error detected: Value '121' at 'healthCheckTimeoutSeconds' failed to satisfy constraint: Member must have value less than or equal to 120"},
		{"healthy threshold below 2", func(in *elb.CreateTargetGroupInput) { in.HealthyThresholdCount = aws.Int32(1) },
			"1 validation error detected: Value '1' at 'healthyThresholdCount' failed to satisfy constraint: Member must have value greater than or equal to 2"},
		{"unhealthy threshold above 10", func(in *elb.CreateTargetGroupInput) { in.UnhealthyThresholdCount = aws.Int32(11) },
			"1 validation error detected: Value '11' at 'unhealthyThresholdCount' failed to satisfy constraint: Member must have value less than or equal to 10"},
		{"health checks off for ip targets", func(in *elb.CreateTargetGroupInput) { in.HealthCheckEnabled = aws.Bool(false) },
			"Health check enabled must be true for target groups with target type 'ip'"},
		{"protocol not in the enum", func(in *elb.CreateTargetGroupInput) { in.Protocol = "SMTP" },
			"1 validation error detected: Value 'SMTP' at 'protocol' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE]"},
	}
	for _, c := range refused {
		t.Run("CreateTargetGroup "+c.name, func(t *testing.T) {
			_, err := create("refused", c.mod)
			wantAPIError(t, err, "ValidationError", c.msg)
		})
	}
	if _, err := b.elb.DescribeTargetGroups(b.ctx, &elb.DescribeTargetGroupsInput{Names: []string{"refused"}}); !errors.As(err, new(*elbtypes.TargetGroupNotFoundException)) {
		t.Fatalf("a refused target group exists: %v", err)
	}

	t.Run("ModifyTargetGroup", func(t *testing.T) {
		out, err := b.elb.ModifyTargetGroup(b.ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: tg.TargetGroupArn,
			HealthCheckIntervalSeconds: aws.Int32(10), HealthyThresholdCount: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.TargetGroups[0]; aws.ToInt32(got.HealthCheckIntervalSeconds) != 10 || aws.ToInt32(got.HealthyThresholdCount) != 2 ||
			aws.ToInt32(got.UnhealthyThresholdCount) != 2 {
			t.Fatalf("modified: %+v", got)
		}
		_, err = b.elb.ModifyTargetGroup(b.ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: tg.TargetGroupArn,
			HealthCheckIntervalSeconds: aws.Int32(20), UnhealthyThresholdCount: aws.Int32(1)})
		wantAPIError(t, err, "ValidationError", "1 validation error detected: Value '1' at 'unhealthyThresholdCount' failed to satisfy constraint: Member must have value greater than or equal to 2")
		desc, err := b.elb.DescribeTargetGroups(b.ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{*tg.TargetGroupArn}})
		if err != nil {
			t.Fatal(err)
		}
		if got := desc.TargetGroups[0]; aws.ToInt32(got.HealthCheckIntervalSeconds) != 10 {
			t.Fatalf("a refused ModifyTargetGroup changed the interval to %d", aws.ToInt32(got.HealthCheckIntervalSeconds))
		}
		_, err = b.elb.ModifyTargetGroup(b.ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(*tg.TargetGroupArn + "0")})
		wantAPIError(t, err, "TargetGroupNotFound", "Target groups '"+*tg.TargetGroupArn+"0' not found")
	})

	t.Run("Lambda targets with health checks off are unavailable", func(t *testing.T) {
		out, err := b.elb.CreateTargetGroup(b.ctx, &elb.CreateTargetGroupInput{Name: aws.String("fn"), TargetType: elbtypes.TargetTypeEnumLambda})
		if err != nil {
			t.Fatal(err)
		}
		fn := out.TargetGroups[0]
		if aws.ToBool(fn.HealthCheckEnabled) {
			t.Fatal("a Lambda target group checks health by default")
		}
		id := "arn:aws:lambda:us-east-1:123456789012:function:fn"
		if _, err := b.elb.RegisterTargets(b.ctx, &elb.RegisterTargetsInput{TargetGroupArn: fn.TargetGroupArn, Targets: []elbtypes.TargetDescription{{Id: &id}}}); err != nil {
			t.Fatal(err)
		}
		// A rule forwards to it, so it is in use.
		sd := b.seed(t, awsim.Scenario{Name: "fnlb"})
		if _, err := b.elb.CreateRule(b.ctx, &elb.CreateRuleInput{ListenerArn: &sd.ListenerArn, Priority: aws.Int32(5),
			Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/fn"}}},
			Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: fn.TargetGroupArn}}}); err != nil {
			t.Fatal(err)
		}
		got := b.targetState(t, *fn.TargetGroupArn, id)
		if got.State != elbtypes.TargetHealthStateEnumUnavailable || got.Reason != elbtypes.TargetHealthReasonEnumHealthCheckDisabled {
			t.Fatalf("Lambda target: %s %s", got.State, got.Reason)
		}
	})
}

// TestTargetGroupAttributes reads and changes target group attributes: the
// ALB keys with their defaults, values in range, unknown keys refused, and a
// refused request changes nothing.
func TestTargetGroupAttributes(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "attr"})
	tg := sd.TargetGroupArns["green"]
	attrs := func() map[string]string {
		t.Helper()
		out, err := b.elb.DescribeTargetGroupAttributes(b.ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: &tg})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, a := range out.Attributes {
			m[*a.Key] = *a.Value
		}
		return m
	}
	got := attrs()
	for k, v := range map[string]string{
		"deregistration_delay.timeout_seconds":  "10", // the seeded scenario's
		"stickiness.enabled":                    "false",
		"stickiness.type":                       "lb_cookie",
		"stickiness.lb_cookie.duration_seconds": "86400",
		"load_balancing.algorithm.type":         "round_robin",
		"load_balancing.cross_zone.enabled":     "use_load_balancer_configuration",
		"slow_start.duration_seconds":           "0",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	out, err := b.elb.CreateTargetGroup(b.ctx, &elb.CreateTargetGroupInput{Name: aws.String("plain"), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(80), VpcId: aws.String("vpc-1"), TargetType: elbtypes.TargetTypeEnumIp})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := b.elb.DescribeTargetGroupAttributes(b.ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: out.TargetGroups[0].TargetGroupArn})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plain.Attributes {
		if *a.Key == "deregistration_delay.timeout_seconds" && *a.Value != "300" {
			t.Fatalf("default deregistration delay %s, want 300", *a.Value)
		}
	}

	modify := func(kv ...string) (*elb.ModifyTargetGroupAttributesOutput, error) {
		var in []elbtypes.TargetGroupAttribute
		for i := 0; i < len(kv); i += 2 {
			in = append(in, elbtypes.TargetGroupAttribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		return b.elb.ModifyTargetGroupAttributes(b.ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: &tg, Attributes: in})
	}
	mod, err := modify("deregistration_delay.timeout_seconds", "0", "stickiness.enabled", "true")
	if err != nil {
		t.Fatal(err)
	}
	if len(mod.Attributes) != len(got) {
		t.Fatalf("ModifyTargetGroupAttributes answered %d attributes, want all %d", len(mod.Attributes), len(got))
	}
	refused := []struct {
		name string
		kv   []string
		msg  string
	}{
		{"unknown key", []string{"stickiness.enabled", "false", "tcp.keepalive", "true"},
			"Target group attribute key 'tcp.keepalive' is not recognized"},
		{"delay above 3600", []string{"deregistration_delay.timeout_seconds", "3601"},
			"Target group attribute 'deregistration_delay.timeout_seconds' value '3601' is not valid: it must be an integer from 0 to 3600"},
		{"delay not a number", []string{"deregistration_delay.timeout_seconds", "soon"},
			"Target group attribute 'deregistration_delay.timeout_seconds' value 'soon' is not valid: it must be an integer from 0 to 3600"},
		{"slow start below 30", []string{"stickiness.enabled", "false", "slow_start.duration_seconds", "10"},
			"Target group attribute 'slow_start.duration_seconds' value '10' is not valid: it must be 0 or an integer from 30 to 900"},
		{"algorithm", []string{"load_balancing.algorithm.type", "random"},
			"Target group attribute 'load_balancing.algorithm.type' value 'random' is not valid: it must be round_robin, least_outstanding_requests or weighted_random"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, err := modify(c.kv...)
			wantAPIError(t, err, "ValidationError", c.msg)
		})
	}
	if now := attrs(); now["deregistration_delay.timeout_seconds"] != "0" || now["stickiness.enabled"] != "true" {
		t.Fatalf("after refused changes: delay %s, stickiness %s; want 0, true", now["deregistration_delay.timeout_seconds"], now["stickiness.enabled"])
	}
	_, err = b.elb.DescribeTargetGroupAttributes(b.ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tg + "0")})
	wantAPIError(t, err, "TargetGroupNotFound", "Target groups '"+tg+"0' not found")
}
