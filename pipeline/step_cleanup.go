package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// cleanUp is step 4: stop and delete the task sets that are in the way.
//
//  1. If the PRIMARY task set is not behind the serving rule but another
//     one is (a deploy died between the swap and step 10), that one is
//     what serves: it becomes PRIMARY. A resume keeps things as they are.
//  2. Every other task set is scaled to 0, waited for until its tasks have
//     stopped, deleted, and waited for until it is gone, except: the
//     PRIMARY, any behind the serving rule, this deploy's own (its
//     externalId is the deploy id), and the one that served before this
//     deploy's first try. DRAINING ones are waited out, until they have
//     left DescribeServices: until then they count against the service's
//     limit of task sets.
//  3. If the service still has no room for this deploy's task set, the
//     deploy stops here and names the task sets holding the slots.
func (r *run) cleanUp(ctx context.Context, v *albView) error {
	servingTG := r.env.TargetGroupARNs[v.serving]
	sets := v.taskSets
	if r.st.Mode != ModeResume {
		made, err := r.primaryBehindServing(ctx, sets, servingTG)
		if err != nil {
			return err
		}
		if made != "" {
			// Go on from a listing that shows the change.
			if sets, err = r.listTaskSetsUntil(ctx, made+" to be PRIMARY", func(sets []ecstypes.TaskSet) bool {
				return slices.ContainsFunc(sets, func(ts ecstypes.TaskSet) bool {
					return aws.ToString(ts.TaskSetArn) == made && aws.ToString(ts.Status) == "PRIMARY"
				})
			}); err != nil {
				return err
			}
		}
	}
	for _, ts := range sets {
		arn := aws.ToString(ts.TaskSetArn)
		switch {
		case aws.ToString(ts.Status) == "PRIMARY",
			onTargetGroup(ts, servingTG),
			aws.ToString(ts.ExternalId) == r.st.DeployID,
			arn == r.st.PreviousTaskSetArn:
			continue
		}
		if err := r.removeTaskSet(ctx, ts); err != nil {
			return err
		}
	}
	sets, err := r.listTaskSets(ctx)
	if err != nil {
		return err
	}
	return r.checkRoom(sets)
}

// checkRoom refuses to go on when the service holds as many task sets as
// ECS allows and none of them is this deploy's.
func (r *run) checkRoom(sets []ecstypes.TaskSet) error {
	var held []string
	for _, ts := range sets {
		if aws.ToString(ts.ExternalId) == r.st.DeployID && aws.ToString(ts.Status) != "DRAINING" {
			return nil
		}
		held = append(held, fmt.Sprintf("%s (%s, externalId %q)", aws.ToString(ts.TaskSetArn), aws.ToString(ts.Status), aws.ToString(ts.ExternalId)))
	}
	if len(held) < maxTaskSets {
		return nil
	}
	return permanentError{fmt.Errorf("service %s holds %d task sets, the most ECS allows (draining ones count until they are gone), and none may be removed: %s; delete one, or wait for draining ones to go, then resume",
		r.env.Family, len(held), strings.Join(held, ", "))}
}

// primaryBehindServing makes the task set behind the serving target group
// PRIMARY when the PRIMARY one is elsewhere, and returns its ARN.
func (r *run) primaryBehindServing(ctx context.Context, sets []ecstypes.TaskSet, servingTG string) (string, error) {
	var serving *ecstypes.TaskSet
	for i, ts := range sets {
		if !onTargetGroup(ts, servingTG) || aws.ToString(ts.Status) == "DRAINING" {
			continue
		}
		if aws.ToString(ts.Status) == "PRIMARY" {
			return "", nil
		}
		serving = &sets[i]
	}
	if serving == nil {
		return "", nil
	}
	if err := r.lock.Check(); err != nil {
		return "", err
	}
	arn := aws.ToString(serving.TaskSetArn)
	r.log.Info().Str("task_set", arn).Msg("the task set behind the serving rule becomes primary")
	_, err := r.aws.ECS.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{
		Cluster: aws.String(r.env.Cluster), Service: aws.String(r.env.Family), PrimaryTaskSet: serving.TaskSetArn})
	if err != nil {
		return "", fmt.Errorf("make serving task set %s primary: %w", arn, err)
	}
	return arn, nil
}

// removeTaskSet scales ts to 0, waits for its tasks to stop, deletes it and
// waits until the service no longer lists it.
func (r *run) removeTaskSet(ctx context.Context, ts ecstypes.TaskSet) error {
	arn := aws.ToString(ts.TaskSetArn)
	log := r.log.With().Str("task_set", arn).Logger()
	if aws.ToString(ts.Status) != "DRAINING" {
		if ts.Scale == nil || ts.Scale.Value != 0 {
			if err := r.lock.Check(); err != nil {
				return err
			}
			log.Info().Msg("scale task set to 0")
			_, err := r.aws.ECS.UpdateTaskSet(ctx, &ecs.UpdateTaskSetInput{Cluster: aws.String(r.env.Cluster), Service: aws.String(r.env.Family),
				TaskSet: aws.String(arn), Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 0}})
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("scale task set %s to 0: %w", arn, err)
			}
		}
		drained, err := r.waitTaskSet(ctx, arn, r.env.rolloutTimeout(), "tasks of "+arn+" to stop", func(ts ecstypes.TaskSet) bool {
			return ts.RunningCount == 0 && ts.PendingCount == 0 && ts.ComputedDesiredCount == 0
		})
		if err != nil {
			return err
		}
		if drained {
			if err := r.lock.Check(); err != nil {
				return err
			}
			log.Info().Msg("delete task set")
			_, err := r.aws.ECS.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{Cluster: aws.String(r.env.Cluster), Service: aws.String(r.env.Family), TaskSet: aws.String(arn)})
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("delete task set %s: %w", arn, err)
			}
		}
	}
	_, err := r.listTaskSetsUntil(ctx, arn+" to leave the service", func(sets []ecstypes.TaskSet) bool {
		return !slices.ContainsFunc(sets, func(ts ecstypes.TaskSet) bool { return aws.ToString(ts.TaskSetArn) == arn })
	})
	return err
}

func isNotFound(err error) bool {
	var nf *ecstypes.TaskSetNotFoundException
	return errors.As(err, &nf)
}
