package pipeline

import (
	"cmp"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// targetsHealthy says whether the target group has at least want targets
// and all of them, draining ones aside, are healthy; if not, why not.
func (r *run) targetsHealthy(ctx context.Context, tg string, want int) (bool, string, error) {
	out, err := r.aws.ELB.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return false, "", fmt.Errorf("describe target health of %s: %w", tg, err)
	}
	healthy := 0
	for _, d := range out.TargetHealthDescriptions {
		state := d.TargetHealth.State
		switch state {
		case elbtypes.TargetHealthStateEnumHealthy:
			healthy++
		case elbtypes.TargetHealthStateEnumDraining:
		default:
			return false, fmt.Sprintf("target %s is %s (%s)", aws.ToString(d.Target.Id), state, d.TargetHealth.Reason), nil
		}
	}
	if healthy < want || healthy == 0 {
		return false, fmt.Sprintf("%d healthy targets, want %d", healthy, max(want, 1)), nil
	}
	return true, "", nil
}

// newTaskSetSize is the computed desired count of the new task set.
func (r *run) newTaskSetSize(ctx context.Context) (int, error) {
	ts, err := r.awaitTaskSet(ctx, r.st.NewTaskSetArn)
	if err != nil {
		return 0, err
	}
	return int(ts.ComputedDesiredCount), nil
}

// verify is step 8: before traffic moves, every target of the new target
// group is healthy, and the verify commands pass.
func (r *run) verify(ctx context.Context) error {
	want, err := r.newTaskSetSize(ctx)
	if err != nil {
		return err
	}
	tg := r.env.TargetGroupARNs[r.st.NewColour]
	ok, why, err := r.targetsHealthy(ctx, tg, want)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s target group %s is not ready for traffic: %s", r.st.NewColour, tg, why)
	}
	return r.runCommands(ctx, "verify", r.app.VerifyCommandTemplates, r.st.TaskDefinitionArn)
}

// serveColour makes colour's rule the lower-priority one, in one
// SetRulePriorities call; it does nothing if it already is.
func (r *run) serveColour(ctx context.Context, colour string) error {
	rules, serving, err := r.readRules(ctx)
	if err != nil {
		return err
	}
	if serving == colour {
		return nil
	}
	if err := r.lock.Check(); err != nil {
		return err
	}
	to, from := rules[colour], rules[otherColour(colour)]
	_, err = r.aws.ELB.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{
		{RuleArn: aws.String(to.arn), Priority: aws.Int32(int32(from.priority))},
		{RuleArn: aws.String(from.arn), Priority: aws.Int32(int32(to.priority))},
	}})
	if err != nil {
		return fmt.Errorf("swap rule priorities to serve %s: %w", colour, err)
	}
	r.log.Info().Str("serving", colour).Msg("swapped rule priorities")
	return nil
}

// swap is step 9.
func (r *run) swap(ctx context.Context) error { return r.serveColour(ctx, r.st.NewColour) }

// setPrimary makes the task set PRIMARY unless it already is.
func (r *run) setPrimary(ctx context.Context, arn string) error {
	ts, found, err := r.describeTaskSet(ctx, arn)
	if err != nil {
		return err
	}
	if found && aws.ToString(ts.Status) == "PRIMARY" {
		return nil
	}
	if err := r.lock.Check(); err != nil {
		return err
	}
	if _, err := r.aws.ECS.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{Cluster: aws.String(r.env.Cluster),
		Service: aws.String(r.env.Family), PrimaryTaskSet: aws.String(arn)}); err != nil {
		return fmt.Errorf("make task set %s primary: %w", arn, err)
	}
	r.log.Info().Str("task_set", arn).Msg("task set is primary")
	return nil
}

// makePrimary is step 10; the old task set stays ACTIVE for a rollback.
func (r *run) makePrimary(ctx context.Context) error { return r.setPrimary(ctx, r.st.NewTaskSetArn) }

// confirm checks the end state before success is declared: the new task
// set is PRIMARY and its target group is behind the serving rule. ECS may
// take a moment to show the primary update, so that is asked again for
// consistencyGrace.
func (r *run) confirm(ctx context.Context) error {
	_, serving, err := r.readRules(ctx)
	if err != nil {
		return err
	}
	if serving != r.st.NewColour {
		return fmt.Errorf("end state: %s serves, not the new %s", serving, r.st.NewColour)
	}
	status := ""
	err = r.poll(ctx, consistencyGrace, "task set "+r.st.NewTaskSetArn+" to be PRIMARY", func() (bool, error) {
		ts, found, err := r.describeTaskSet(ctx, r.st.NewTaskSetArn)
		status = cmp.Or(aws.ToString(ts.Status), "missing")
		return found && status == "PRIMARY", err
	})
	if err != nil {
		return fmt.Errorf("end state: the new task set %s is %s, not PRIMARY: %w", r.st.NewTaskSetArn, status, err)
	}
	return nil
}
