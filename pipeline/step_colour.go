package pipeline

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// colourRule is the listener rule forwarding to one colour's target group.
type colourRule struct {
	arn      string
	priority int
}

// albView is what the listener and the service look like now.
type albView struct {
	rules    map[string]colourRule // by colour
	serving  string                // colour of the lower-priority rule
	taskSets []ecstypes.TaskSet
}

func otherColour(c string) string {
	if c == "blue" {
		return "green"
	}
	return "blue"
}

// ServingColour reads the environment's listener rules and says which
// colour serves, as step 3 does (readRules).
func ServingColour(ctx context.Context, c ELBAPI, env *EnvConfig) (string, error) {
	_, serving, err := readRules(ctx, c, env)
	return serving, err
}

// readRules finds the rule of each colour: the one rule forwarding only to
// its target group. The lower priority serves. A target group of the config
// that no rule of the listener forwards to is named, with its colour.
func (r *run) readRules(ctx context.Context) (map[string]colourRule, string, error) {
	return readRules(ctx, r.aws.ELB, r.env)
}

func readRules(ctx context.Context, c ELBAPI, env *EnvConfig) (map[string]colourRule, string, error) {
	var all []elbtypes.Rule
	p := elb.NewDescribeRulesPaginator(c, &elb.DescribeRulesInput{ListenerArn: aws.String(env.ListenerARN)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("describe rules of %s: %w", env.ListenerARN, err)
		}
		all = append(all, out.Rules...)
	}
	rules := map[string]colourRule{}
	for _, colour := range []string{"blue", "green"} {
		tg := env.TargetGroupARNs[colour]
		var found []colourRule
		for _, rule := range all {
			if aws.ToBool(rule.IsDefault) {
				continue
			}
			targets := forwardTargets(rule.Actions)
			if len(targets) == 1 && targets[0] == tg {
				p, err := strconv.Atoi(aws.ToString(rule.Priority))
				if err != nil {
					return nil, "", fmt.Errorf("rule %s has priority %q", aws.ToString(rule.RuleArn), aws.ToString(rule.Priority))
				}
				found = append(found, colourRule{arn: aws.ToString(rule.RuleArn), priority: p})
			}
		}
		switch len(found) {
		case 1:
			rules[colour] = found[0]
		case 0:
			return nil, "", permanentError{fmt.Errorf("the %s target group %s (TargetGroupARNs.%s) is not attached to listener %s: no rule forwards only to it", colour, tg, colour, env.ListenerARN)}
		default:
			return nil, "", permanentError{fmt.Errorf("listener %s has %d rules forwarding only to the %s target group %s; it needs exactly one", env.ListenerARN, len(found), colour, tg)}
		}
	}
	serving := "blue"
	if rules["green"].priority < rules["blue"].priority {
		serving = "green"
	}
	return rules, serving, nil
}

// forwardTargets returns the target groups forward actions send traffic to.
func forwardTargets(actions []elbtypes.Action) []string {
	var out []string
	for _, a := range actions {
		if a.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
			for _, tg := range a.ForwardConfig.TargetGroups {
				if tg.Weight == nil || *tg.Weight > 0 {
					out = append(out, aws.ToString(tg.TargetGroupArn))
				}
			}
			continue
		}
		if a.TargetGroupArn != nil {
			out = append(out, *a.TargetGroupArn)
		}
	}
	return out
}

// readColour is step 3: which colour serves, and so which one this deploy
// moves traffic to. On the first try it also records what serves now, the
// task set a rollback goes back to.
//
// Every alarm of AlarmNames must exist, or the bake would watch nothing.
func (r *run) readColour(ctx context.Context) (*albView, error) {
	rules, serving, err := r.readRules(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.checkAlarms(ctx); err != nil {
		return nil, err
	}
	sets, err := r.listTaskSets(ctx)
	if err != nil {
		return nil, err
	}
	v := &albView{rules: rules, serving: serving, taskSets: sets}
	if r.st.NewColour == "" {
		r.st.PreviousColour = serving
		r.st.NewColour = otherColour(serving)
		r.st.PreviousTaskSetArn = ""
		servingTG := r.env.TargetGroupARNs[serving]
		for _, ts := range sets {
			if onTargetGroup(ts, servingTG) && aws.ToString(ts.Status) != "DRAINING" {
				r.st.PreviousTaskSetArn = aws.ToString(ts.TaskSetArn)
				if aws.ToString(ts.Status) == "PRIMARY" {
					break
				}
			}
		}
		r.st.PreviousArtifact = r.servingArtifact()
	}
	r.log.Info().Str("serving", serving).Str("new_colour", r.st.NewColour).Str("previous_task_set", r.st.PreviousTaskSetArn).Msg("read active colour")
	return v, nil
}

// servingArtifact is the build of the task set that serves before this
// deploy, when the last operation says which: it put it there, or it
// served before that operation too.
func (r *run) servingArtifact() *Artifact {
	last, ts := r.prev, r.st.PreviousTaskSetArn
	switch {
	case ts == "":
		return nil
	case last.State == StateSucceeded && !last.RollingBack && last.NewTaskSetArn == ts:
		a := last.Artifact
		return &a
	case last.PreviousTaskSetArn == ts:
		return last.PreviousArtifact
	}
	return nil
}

func onTargetGroup(ts ecstypes.TaskSet, tg string) bool {
	for _, lb := range ts.LoadBalancers {
		if aws.ToString(lb.TargetGroupArn) == tg {
			return true
		}
	}
	return false
}
