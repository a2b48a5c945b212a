package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func (r *run) templateData(taskDefinition string) map[string]any {
	return r.templateDataFor(r.st.Artifact, taskDefinition)
}

// templateDataFor is what templates see for build art.
func (r *run) templateDataFor(art Artifact, taskDefinition string) map[string]any {
	account := cmp.Or(r.env.AccountID, r.p.cfg.Deploy.ConfigAccountID)
	return templateData(r.req.Env, r.p.cfg.Deploy.region(r.env), account, art, taskDefinition)
}

// registerTaskDefinition is step 5. A resume reuses the one registered
// before; a crash between registering and saving registers another
// revision, which is harmless.
func (r *run) registerTaskDefinition(ctx context.Context) error {
	if r.st.TaskDefinitionArn != "" {
		return nil
	}
	containers, err := renderContainers(r.app.ContainerDefinitionTemplates, r.templateData(""))
	if err != nil {
		return permanentError{fmt.Errorf("render container definitions: %w", err)}
	}
	in := &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String(r.env.Family),
		ContainerDefinitions: containers,
		NetworkMode:          ecstypes.NetworkModeAwsvpc,
		Tags:                 []ecstypes.Tag{{Key: aws.String("ecs-deploy:deploy-id"), Value: aws.String(r.st.DeployID)}},
	}
	if r.env.CPU != "" {
		in.Cpu = aws.String(r.env.CPU)
	}
	if r.env.Memory != "" {
		in.Memory = aws.String(r.env.Memory)
	}
	if r.env.TaskRoleARN != "" {
		in.TaskRoleArn = aws.String(r.env.TaskRoleARN)
	}
	if r.env.ExecutionRoleARN != "" {
		in.ExecutionRoleArn = aws.String(r.env.ExecutionRoleARN)
	}
	in.RequiresCompatibilities = []ecstypes.Compatibility{r.env.compatibility()}
	if err := r.lock.Check(); err != nil {
		return err
	}
	out, err := r.aws.ECS.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return fmt.Errorf("register task definition %s: %w", r.env.Family, err)
	}
	r.st.TaskDefinitionArn = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	r.log.Info().Str("task_definition", r.st.TaskDefinitionArn).Msg("registered task definition")
	return nil
}

// servingContainer is the first container's name and its one port.
func (r *run) servingContainer() (string, int32, error) {
	containers, err := renderContainers(r.app.ContainerDefinitionTemplates[:1], r.templateData(""))
	if err != nil {
		return "", 0, permanentError{err}
	}
	c := containers[0]
	if len(c.PortMappings) != 1 || c.PortMappings[0].ContainerPort == nil {
		return "", 0, permanentError{fmt.Errorf("the first container must have exactly one port mapping")}
	}
	return aws.ToString(c.Name), *c.PortMappings[0].ContainerPort, nil
}

// createTaskSet is step 6: the new task set on the new colour's target
// group. It is idempotent: a task set whose externalId is this deploy's id
// is reused, and the deploy id is the client token.
func (r *run) createTaskSet(ctx context.Context) error {
	sets, err := r.listTaskSets(ctx)
	if err != nil {
		return err
	}
	for _, ts := range sets {
		if aws.ToString(ts.ExternalId) == r.st.DeployID && aws.ToString(ts.Status) != "DRAINING" {
			r.st.NewTaskSetArn = aws.ToString(ts.TaskSetArn)
			r.log.Info().Str("task_set", r.st.NewTaskSetArn).Msg("reusing this deploy's task set")
			return nil
		}
	}
	name, port, err := r.servingContainer()
	if err != nil {
		return err
	}
	assign := ecstypes.AssignPublicIpDisabled
	if r.env.AssignPublicIP {
		assign = ecstypes.AssignPublicIpEnabled
	}
	in := &ecs.CreateTaskSetInput{
		Cluster:        aws.String(r.env.Cluster),
		Service:        aws.String(r.env.Family),
		TaskDefinition: aws.String(r.st.TaskDefinitionArn),
		ExternalId:     aws.String(r.st.DeployID),
		ClientToken:    aws.String(r.st.DeployID),
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: r.env.Subnets, SecurityGroups: r.env.SecurityGroups, AssignPublicIp: assign}},
		LoadBalancers: []ecstypes.LoadBalancer{{
			TargetGroupArn: aws.String(r.env.TargetGroupARNs[r.st.NewColour]),
			ContainerName:  aws.String(name),
			ContainerPort:  aws.Int32(port),
		}},
		Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 100},
		Tags:  []ecstypes.Tag{{Key: aws.String("ecs-deploy:deploy-id"), Value: aws.String(r.st.DeployID)}},
	}
	if lt := r.env.launchType(); lt != "" {
		in.LaunchType = lt
	}
	for _, cp := range r.env.CapacityProviderStrategy {
		in.CapacityProviderStrategy = append(in.CapacityProviderStrategy, ecstypes.CapacityProviderStrategyItem{
			CapacityProvider: aws.String(cp.CapacityProvider), Weight: cp.Weight, Base: cp.Base})
	}
	if err := r.lock.Check(); err != nil {
		return err
	}
	out, err := r.aws.ECS.CreateTaskSet(ctx, in)
	if err != nil {
		return fmt.Errorf("create task set on %s: %w", r.st.NewColour, err)
	}
	r.st.NewTaskSetArn = aws.ToString(out.TaskSet.TaskSetArn)
	r.log.Info().Str("task_set", r.st.NewTaskSetArn).Str("colour", r.st.NewColour).Msg("created task set")
	return nil
}

// waitStable is step 7: wait until the new task set is STEADY_STATE with
// its running count reached. It fails fast, with the stop reason, when its
// tasks stop for the build's fault (stoppedTasks).
//
// Each poll is one DescribeTaskSets. Steady state cannot come before every
// task runs, so while some are still starting it polls every SlowPoll, and
// every Poll after. Stopped tasks are looked for only when the running and
// pending counts fall below what they were (a task left), and every
// StopCheckEvery polls as a backstop. A task set ECS does not know counts
// as gone only once it has been missing for consistencyGrace: right after
// step 6 it may not be readable yet.
func (r *run) waitStable(ctx context.Context) error {
	arn := r.st.NewTaskSetArn
	polls, best := 0, 0
	starting := true
	clock := r.p.cfg.Clock
	var missingSince time.Time
	seen := map[string]bool{}
	interval := func() time.Duration {
		if starting {
			return r.p.cfg.SlowPoll
		}
		return r.p.cfg.Poll
	}
	return r.pollEvery(ctx, r.env.rolloutTimeout(), "task set "+arn+" to reach steady state", interval, func() (bool, error) {
		polls++
		ts, found, err := r.describeTaskSet(ctx, arn)
		if err != nil {
			return false, err
		}
		if !found {
			if missingSince.IsZero() {
				missingSince = clock.Now()
			}
			if clock.Now().Sub(missingSince) >= consistencyGrace {
				return false, failFast{fmt.Errorf("task set %s disappeared: ECS has not known it for %v", arn, consistencyGrace)}
			}
			return false, nil
		}
		missingSince = time.Time{}
		live := int(ts.RunningCount + ts.PendingCount)
		if live < best || polls%r.p.cfg.StopCheckEvery == 0 {
			if err := r.stoppedTasks(ctx, ts, seen); err != nil {
				return false, err
			}
		}
		best = max(best, live)
		starting = ts.RunningCount < ts.ComputedDesiredCount
		if ts.StabilityStatus == ecstypes.StabilityStatusSteadyState && ts.RunningCount == ts.ComputedDesiredCount && ts.ComputedDesiredCount > 0 {
			lag := clock.Now().Sub(aws.ToTime(ts.StabilityStatusAt))
			r.log.Info().Int32("running", ts.RunningCount).Dur("noticed_after", lag).Msg("task set is steady")
			return true, nil
		}
		return false, nil
	})
}

// healthCheckStops is how many of the new task set's tasks the scheduler
// may stop for failing their load balancer health checks before step 7
// gives up: a build that never passes them would otherwise be replaced
// until the rollout timeout.
const healthCheckStops = 3

// stoppedTasks fails fast when tasks of the task set stopped for the
// build's fault: one whose essential container exited or that failed to
// start, or healthCheckStops stopped by the scheduler for failing health
// checks. Tasks stopped for a Spot interruption, a termination notice, a
// scale-in or by a user are not the build's fault: they are replaced and the
// rollout waits.
//
// ECS lists tasks by startedBy only with no other filter, and then only
// running ones, so stopped tasks are listed by family and matched to the
// task set by their startedBy. seen holds the tasks already looked at and
// whether each failed its health checks, so each is described once.
func (r *run) stoppedTasks(ctx context.Context, ts ecstypes.TaskSet, seen map[string]bool) error {
	arns, err := r.listTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(r.env.Cluster),
		Family: aws.String(r.env.Family), DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil {
		return fmt.Errorf("list stopped tasks of family %s: %w", r.env.Family, err)
	}
	var fresh []string
	for _, arn := range arns {
		if _, ok := seen[arn]; !ok {
			fresh = append(fresh, arn)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	tasks, err := r.describeTasks(ctx, fresh)
	if err != nil {
		return fmt.Errorf("describe stopped tasks of family %s: %w", r.env.Family, err)
	}
	for _, t := range tasks {
		arn := aws.ToString(t.TaskArn)
		seen[arn] = false
		if aws.ToString(t.StartedBy) != aws.ToString(ts.Id) {
			continue
		}
		reason := aws.ToString(t.StoppedReason)
		switch t.StopCode {
		case ecstypes.TaskStopCodeEssentialContainerExited, ecstypes.TaskStopCodeTaskFailedToStart:
			var exits []string
			for _, c := range t.Containers {
				if c.ExitCode != nil {
					exits = append(exits, fmt.Sprintf("%s exited %d", aws.ToString(c.Name), *c.ExitCode))
				}
			}
			return failFast{fmt.Errorf("task %s stopped: %s (%s) %s", arn, reason, t.StopCode, strings.Join(exits, ", "))}
		case ecstypes.TaskStopCodeServiceSchedulerInitiated:
			if !strings.Contains(strings.ToLower(reason), "health check") {
				continue
			}
			seen[arn] = true
			failed := 0
			for _, hc := range seen {
				if hc {
					failed++
				}
			}
			if failed >= healthCheckStops {
				return failFast{fmt.Errorf("%d tasks were stopped for failing health checks; the last: %s: %s", failed, arn, reason)}
			}
		}
	}
	return nil
}
