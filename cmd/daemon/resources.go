package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"ecs-deploy/events"
	"ecs-deploy/internal/sqsx"
)

// queues are a consumer's queue and its dead-letter queue.
type queues struct {
	url, deadLetterURL string
}

// topicArn is -topic-arn, or with -create-resources the topic it names
// (default ecs-deploy-events), created when missing.
func (m *Main) topicArn(ctx context.Context, h *home) (string, error) {
	c := m.Config
	if !c.CreateResources {
		return c.TopicArn, nil
	}
	name := "ecs-deploy-events"
	if c.TopicArn != "" {
		name = c.TopicArn[strings.LastIndex(c.TopicArn, ":")+1:]
	}
	out, err := h.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", name, err)
	}
	return aws.ToString(out.TopicArn), nil
}

// deadLetterName is a queue's dead-letter queue: the flag's value, or
// <queue>-dlq.
func deadLetterName(queue, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return sqsx.DeadLetterName(queue)
}

// requestQueues finds the deploy request queue and its dead-letter queue,
// or with -create-resources creates them as production has them: the
// request queue with a redrive policy to its dead-letter queue.
func (m *Main) requestQueues(ctx context.Context, h *home) (queues, error) {
	c := m.Config
	dlq, err := deadLetterName(c.Queue, c.DeadLetterQueue)
	if err != nil {
		return queues{}, err
	}
	if c.CreateResources {
		q, err := sqsx.CreateRequestQueues(ctx, h.sqs, c.Queue, dlq, c.VisibilityTimeout)
		return queues{q.URL, q.DeadLetterURL}, err
	}
	return findQueues(ctx, h, c.Queue, dlq)
}

// eventQueues finds a role's queue of events and its dead-letter queue,
// or with -create-resources creates them, the queue subscribed to the
// topic with raw delivery and a filter policy on the event types the role
// handles.
func (m *Main) eventQueues(ctx context.Context, h *home, topicArn, queue, deadLetterFlag string, types []events.Type) (queues, error) {
	c := m.Config
	dlq, err := deadLetterName(queue, deadLetterFlag)
	if err != nil {
		return queues{}, err
	}
	if !c.CreateResources {
		return findQueues(ctx, h, queue, dlq)
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	q, err := sqsx.CreateEventQueues(ctx, h.sqs, h.sns, topicArn, queue, dlq, names, c.VisibilityTimeout)
	return queues{q.URL, q.DeadLetterURL}, err
}

func findQueues(ctx context.Context, h *home, queue, deadLetter string) (queues, error) {
	var q queues
	var err error
	if q.deadLetterURL, err = sqsx.QueueURL(ctx, h.sqs, deadLetter); err != nil {
		return q, err
	}
	q.url, err = sqsx.QueueURL(ctx, h.sqs, queue)
	return q, err
}
