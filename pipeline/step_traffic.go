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

// newTaskSetSize is the computed desired count of the new task set.
func (r *run) newTaskSetSize(ctx context.Context) (int, error) {
	ts, err := r.awaitTaskSet(ctx, r.st.NewTaskSetArn)
	if err != nil {
		return 0, err
	}
	return int(ts.ComputedDesiredCount), nil
}

// newReady says whether the new colour may take traffic: at least the new
// task set's computed desired count of targets, all of them healthy.
func (r *run) newReady(ctx context.Context) (bool, string, error) {
	want, err := r.newTaskSetSize(ctx)
	if err != nil {
		return false, "", err
	}
	h, err := r.readHealth(ctx, r.env.TargetGroupARNs[r.st.NewColour])
	if err != nil {
		return false, "", err
	}
	ok, why := h.readyForAll(want)
	return ok, why, nil
}

// verify is step 8: before traffic moves, the new target group is ready
// and the verify commands pass. Step 9 checks health again right before
// the swap, since verify commands can take minutes.
func (r *run) verify(ctx context.Context) error {
	ok, why, err := r.newReady(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s target group %s is not ready for traffic: %s", r.st.NewColour, r.env.TargetGroupARNs[r.st.NewColour], why)
	}
	return r.runCommands(ctx, "verify", r.app.VerifyCommandTemplates, r.st.TaskDefinitionArn)
}

// readyFunc says, right before a swap, whether the colour about to serve
// may take traffic, and if not why not.
type readyFunc func(ctx context.Context) (bool, string, error)

// serveColour makes colour's rule the lower-priority one, in one
// SetRulePriorities call; it does nothing if it already is. Right before
// the call, ready must say yes: otherwise traffic stays where it is.
func (r *run) serveColour(ctx context.Context, colour string, ready readyFunc) error {
	rules, serving, err := r.readRules(ctx)
	if err != nil {
		return err
	}
	if serving == colour {
		return nil
	}
	ok, why, err := ready(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("swap to %s refused, %s keeps serving: the %s target group %s is not ready: %s",
			colour, serving, colour, r.env.TargetGroupARNs[colour], why)
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
func (r *run) swap(ctx context.Context) error { return r.serveColour(ctx, r.st.NewColour, r.newReady) }

// setPrimary makes the task set PRIMARY. It writes even when a read says
// the task set is PRIMARY already: reads may lag, and a stale one would say
// so of a task set demoted since; the write acts on the true state and
// changes nothing when there is nothing to change.
func (r *run) setPrimary(ctx context.Context, arn string) error {
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

// confirm checks the end state before an operation is declared done: the
// colour serves, and the task set behind it is PRIMARY. ECS may take a
// moment to show the primary update, so that is asked again for
// consistencyGrace.
func (r *run) confirm(ctx context.Context, colour, arn string) error {
	_, serving, err := r.readRules(ctx)
	if err != nil {
		return err
	}
	if serving != colour {
		return fmt.Errorf("end state: %s serves, not %s", serving, colour)
	}
	status := ""
	err = r.poll(ctx, consistencyGrace, "task set "+arn+" to be PRIMARY", func() (bool, error) {
		ts, found, err := r.describeTaskSet(ctx, arn)
		status = cmp.Or(aws.ToString(ts.Status), "missing")
		return found && status == "PRIMARY", err
	})
	if err != nil {
		return fmt.Errorf("end state: task set %s is %s, not PRIMARY: %w", arn, status, err)
	}
	return nil
}
