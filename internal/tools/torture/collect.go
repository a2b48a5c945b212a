package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// check reads the end state and runs the checks on it.
func (t *tortureRun) check(ctx context.Context) ([]check, error) {
	r, s := t.rig, t.stage
	deadLettered, queued, err := t.leftInQueues(ctx)
	if err != nil {
		return nil, err
	}
	services, err := t.services(ctx)
	if err != nil {
		return nil, err
	}
	logs, err := filepath.Glob(filepath.Join(r.Dir, s.Name+"-*.log"))
	if err != nil {
		return nil, err
	}
	published, states := r.Events.All(), r.Locks.All()
	sort.SliceStable(states, func(i, j int) bool { return states[i].At.Before(states[j].At) })
	t.mu.Lock()
	sent := append([]sentMessage(nil), t.sent...)
	t.mu.Unlock()
	if len(sent) < t.plan.requests {
		t.fail(fmt.Errorf("only %d of %d requests were sent", len(sent), t.plan.requests))
	}
	return []check{
		checkOutcomes(sent, published),
		checkExclusive(states, lease),
		checkStepsUnderLock(states, published),
		checkMessages(sent, published, deadLettered, queued),
		checkServices(services),
		checkDowntime(s.Emulator.Sim.Downtime()),
		checkNoPanic(logs),
	}, nil
}

// leftInQueues waits until no message of the request queue is in flight
// (the replicas are stopped: in-flight ones come back within a visibility
// timeout), then receives what the dead-letter queue and the request
// queue hold. A dead letter names the message it was by its
// original_message_id attribute (or is that message, moved by the
// redrive policy).
func (t *tortureRun) leftInQueues(ctx context.Context) (deadLettered, queued map[string]bool, err error) {
	r, q := t.rig, t.stage.Queue
	deadline := time.Now().Add(2*visibility + 5*time.Second)
	for time.Now().Before(deadline) {
		out, err := r.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			return nil, nil, err
		}
		if n, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"]); n == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	dead, err := r.Drain(ctx, q.DeadLetterURL)
	if err != nil {
		return nil, nil, err
	}
	deadLettered = map[string]bool{}
	for _, m := range dead {
		deadLettered[aws.ToString(m.MessageId)] = true
		if v, ok := m.MessageAttributes["original_message_id"]; ok {
			deadLettered[aws.ToString(v.StringValue)] = true
		}
	}
	left, err := r.Drain(ctx, q.URL)
	if err != nil {
		return nil, nil, err
	}
	queued = map[string]bool{}
	for _, m := range left {
		queued[aws.ToString(m.MessageId)] = true
	}
	return deadLettered, queued, nil
}

// services reads how each app's service and listener ended.
func (t *tortureRun) services(ctx context.Context) ([]service, error) {
	em := t.stage.Emulator
	var out []service
	for _, app := range t.stage.AppNames {
		sd := t.stage.Apps[app]
		svc, err := em.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(sd.Cluster), Services: []string{sd.Service}})
		if err != nil {
			return nil, err
		}
		if len(svc.Services) != 1 {
			return nil, fmt.Errorf("service %s: %d described", sd.Service, len(svc.Services))
		}
		s := service{app: app}
		for _, ts := range svc.Services[0].TaskSets {
			if aws.ToString(ts.Status) == "PRIMARY" && len(ts.LoadBalancers) > 0 {
				s.primaries = append(s.primaries, aws.ToString(ts.LoadBalancers[0].TargetGroupArn))
			}
		}
		rules, err := em.ELB.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(sd.ListenerArn)})
		if err != nil {
			return nil, err
		}
		best := -1
		for _, rule := range rules.Rules {
			p, err := strconv.Atoi(aws.ToString(rule.Priority))
			if err != nil || aws.ToBool(rule.IsDefault) || len(rule.Actions) == 0 {
				continue
			}
			if best < 0 || p < best {
				best, s.serving = p, forwardsTo(rule.Actions[0])
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// forwardsTo is the target group a forward action sends traffic to.
func forwardsTo(a elbtypes.Action) string {
	if arn := aws.ToString(a.TargetGroupArn); arn != "" {
		return arn
	}
	if a.ForwardConfig != nil {
		for _, tg := range a.ForwardConfig.TargetGroups {
			if tg.Weight == nil || *tg.Weight > 0 {
				return aws.ToString(tg.TargetGroupArn)
			}
		}
	}
	return ""
}
