package awsim_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/internal/awsim"
)

// TestForwardActionRules sends each refused action list to CreateRule,
// ModifyRule, CreateListener and ModifyListener: each refuses it with the
// same error, and nothing changes.
func TestForwardActionRules(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "fwd"})
	blue, green := sd.TargetGroupArns["blue"], sd.TargetGroupArns["green"]
	extra := make([]string, 4)
	for i := range extra {
		out, err := b.elb.CreateTargetGroup(b.ctx, &elb.CreateTargetGroupInput{Name: aws.String(fmt.Sprintf("fwd-extra-%d", i)),
			Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String("vpc-1"), TargetType: elbtypes.TargetTypeEnumIp})
		if err != nil {
			t.Fatal(err)
		}
		extra[i] = *out.TargetGroups[0].TargetGroupArn
	}
	tuple := func(arn string, weight *int32) elbtypes.TargetGroupTuple {
		return elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: weight}
	}
	forward := func(arn string, tuples ...elbtypes.TargetGroupTuple) []elbtypes.Action {
		a := elbtypes.Action{Type: elbtypes.ActionTypeEnumForward}
		if arn != "" {
			a.TargetGroupArn = aws.String(arn)
		}
		if tuples != nil {
			a.ForwardConfig = &elbtypes.ForwardActionConfig{TargetGroups: tuples}
		}
		return []elbtypes.Action{a}
	}
	six := []elbtypes.TargetGroupTuple{tuple(blue, aws.Int32(1)), tuple(green, aws.Int32(1))}
	for _, arn := range extra {
		six = append(six, tuple(arn, aws.Int32(1)))
	}
	const weightMsg = "The weight for each target group must be between 0 and 999, inclusive"
	cases := []struct {
		name    string
		actions []elbtypes.Action
		msg     string
	}{
		{"weight above 999", forward("", tuple(blue, aws.Int32(1000)), tuple(green, aws.Int32(0))), weightMsg},
		{"negative weight", forward("", tuple(blue, aws.Int32(-1)), tuple(green, aws.Int32(1))), weightMsg},
		{"weights left out of a split", forward("", tuple(blue, nil), tuple(green, nil)), weightMsg},
		{"no target groups in the forward config", forward("", []elbtypes.TargetGroupTuple{}...),
			"A forward config must specify at least one target group"},
		{"neither ARN nor forward config", forward(""),
			"A target group ARN or a forward config must be specified for a forward action"},
		{"ARN and a forward config of another group", forward(blue, tuple(green, aws.Int32(1))),
			"You cannot specify both a target group ARN and a forward config that names other target groups: the forward config must hold only target group '" + blue + "'"},
		{"ARN and a forward config of two groups", forward(blue, tuple(blue, aws.Int32(1)), tuple(green, aws.Int32(1))),
			"You cannot specify both a target group ARN and a forward config that names other target groups: the forward config must hold only target group '" + blue + "'"},
		{"six target groups", forward("", six...), "A forward action can specify at most 5 target groups"},
		{"a forward config entry without an ARN", forward("", elbtypes.TargetGroupTuple{Weight: aws.Int32(1)}),
			"A target group ARN must be specified for each target group of a forward config"},
		{"stickiness for 0 seconds", []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups:                []elbtypes.TargetGroupTuple{tuple(blue, aws.Int32(1)), tuple(green, aws.Int32(1))},
			TargetGroupStickinessConfig: &elbtypes.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(0)}}}},
			"The target group stickiness duration must be between 1 and 604800 seconds, inclusive"},
		{"order 0", []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &blue, Order: aws.Int32(0)}},
			"1 validation error detected: Value '0' at 'actions.1.member.order' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"unknown type", []elbtypes.Action{{Type: "teleport"}},
			"1 validation error detected: Value 'teleport' at 'actions.1.member.type' failed to satisfy constraint: Member must satisfy enum value set: [forward, authenticate-oidc, authenticate-cognito, redirect, fixed-response]"},
	}
	calls := []struct {
		op   string
		call func(i int, actions []elbtypes.Action) error
	}{
		{"CreateRule", func(i int, actions []elbtypes.Action) error {
			_, err := b.elb.CreateRule(b.ctx, &elb.CreateRuleInput{ListenerArn: &sd.ListenerArn, Priority: aws.Int32(int32(100 + i)),
				Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/x"}}}, Actions: actions})
			return err
		}},
		{"ModifyRule", func(_ int, actions []elbtypes.Action) error {
			_, err := b.elb.ModifyRule(b.ctx, &elb.ModifyRuleInput{RuleArn: aws.String(sd.RuleArns["green"]), Actions: actions})
			return err
		}},
		{"CreateListener", func(i int, actions []elbtypes.Action) error {
			_, err := b.elb.CreateListener(b.ctx, &elb.CreateListenerInput{LoadBalancerArn: &sd.LoadBalancerArn, Port: aws.Int32(int32(8000 + i)),
				Protocol: elbtypes.ProtocolEnumHttp, DefaultActions: actions})
			return err
		}},
		{"ModifyListener", func(_ int, actions []elbtypes.Action) error {
			_, err := b.elb.ModifyListener(b.ctx, &elb.ModifyListenerInput{ListenerArn: &sd.ListenerArn, DefaultActions: actions})
			return err
		}},
	}
	for i, c := range cases {
		for _, call := range calls {
			t.Run(call.op+" "+c.name, func(t *testing.T) {
				wantAPIError(t, call.call(i, c.actions), "ValidationError", c.msg)
			})
		}
	}
	rules, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Rules) != 3 {
		t.Fatalf("refused calls left %d rules, want the 2 seeded and the default", len(rules.Rules))
	}
	for _, r := range rules.Rules {
		if aws.ToBool(r.IsDefault) && r.Actions[0].Type != elbtypes.ActionTypeEnumFixedResponse ||
			!aws.ToBool(r.IsDefault) && len(r.Actions[0].ForwardConfig.TargetGroups) != 1 {
			t.Fatalf("refused calls changed rule %s: %+v", *r.RuleArn, r.Actions)
		}
	}
	lns, err := b.elb.DescribeListeners(b.ctx, &elb.DescribeListenersInput{LoadBalancerArn: &sd.LoadBalancerArn})
	if err != nil {
		t.Fatal(err)
	}
	if len(lns.Listeners) != 1 {
		t.Fatalf("refused calls left %d listeners", len(lns.Listeners))
	}
}

// TestForwardActionsAccepted: a forward action may name its target group by
// ARN, by a forward config, or both when they agree; weights split traffic;
// DescribeRules shows the ARN and the forward config filled in.
func TestForwardActionsAccepted(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "ok"})
	blue, green := sd.TargetGroupArns["blue"], sd.TargetGroupArns["green"]
	cases := []struct {
		name    string
		action  elbtypes.Action
		weights map[string]int32
		arn     string
	}{
		{"ARN", elbtypes.Action{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &green}, map[string]int32{green: 1}, green},
		{"ARN and the same group in a forward config", elbtypes.Action{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &green,
			ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: &green}}}}, map[string]int32{green: 1}, green},
		{"weighted split", elbtypes.Action{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: &blue, Weight: aws.Int32(999)}, {TargetGroupArn: &green, Weight: aws.Int32(0)}}}},
			map[string]int32{blue: 999, green: 0}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := b.elb.ModifyRule(b.ctx, &elb.ModifyRuleInput{RuleArn: aws.String(sd.RuleArns["green"]), Actions: []elbtypes.Action{c.action}}); err != nil {
				t.Fatal(err)
			}
			out, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{RuleArns: []string{sd.RuleArns["green"]}})
			if err != nil {
				t.Fatal(err)
			}
			a := out.Rules[0].Actions[0]
			got := map[string]int32{}
			for _, tg := range a.ForwardConfig.TargetGroups {
				got[*tg.TargetGroupArn] = aws.ToInt32(tg.Weight)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.weights) || aws.ToString(a.TargetGroupArn) != c.arn || aws.ToInt32(a.Order) != 1 {
				t.Fatalf("described: ARN %q order %d weights %v; want ARN %q order 1 weights %v", aws.ToString(a.TargetGroupArn), aws.ToInt32(a.Order), got, c.arn, c.weights)
			}
		})
	}

	t.Run("ModifyListener", func(t *testing.T) {
		out, err := b.elb.ModifyListener(b.ctx, &elb.ModifyListenerInput{ListenerArn: &sd.ListenerArn,
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &blue}}})
		if err != nil {
			t.Fatal(err)
		}
		if l := out.Listeners[0]; aws.ToInt32(l.Port) != 80 || aws.ToString(l.DefaultActions[0].TargetGroupArn) != blue {
			t.Fatalf("modified listener: %+v", l)
		}
		rules, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn})
		if err != nil {
			t.Fatal(err)
		}
		if def := rules.Rules[len(rules.Rules)-1]; !aws.ToBool(def.IsDefault) || aws.ToString(def.Actions[0].TargetGroupArn) != blue {
			t.Fatalf("default rule after ModifyListener: %+v", def)
		}
		if _, err := b.elb.CreateListener(b.ctx, &elb.CreateListenerInput{LoadBalancerArn: &sd.LoadBalancerArn, Port: aws.Int32(81),
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &blue}}}); err != nil {
			t.Fatal(err)
		}
		_, err = b.elb.ModifyListener(b.ctx, &elb.ModifyListenerInput{ListenerArn: &sd.ListenerArn, Port: aws.Int32(81)})
		wantAPIError(t, err, "DuplicateListener", "A listener already exists on this port for this load balancer '"+sd.LoadBalancerArn+"'")
	})
}
