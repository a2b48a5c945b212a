package eventbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"ecs-deploy/events"
	"ecs-deploy/internal/sqsx"
)

// Follower reads a topic's events through its own temporary queue.
type Follower struct {
	sqs      *sqs.Client
	sns      *sns.Client
	queueURL string
	subArn   string
	pending  []events.Event
}

// FollowOptions shape a Follower.
type FollowOptions struct {
	// App and Env, when set, keep only that app and environment's events (a
	// filter policy on the subscription).
	App, Env string
	// NoQueuePolicy skips the queue policy that lets the topic deliver: goaws
	// refuses queue policies and needs none. AWS needs it.
	NoQueuePolicy bool
}

// Follow creates a queue, subscribes it to the topic with raw delivery,
// and returns a Follower. Close removes both.
func Follow(ctx context.Context, sqsClient *sqs.Client, snsClient *sns.Client, topicArn string, opts FollowOptions) (*Follower, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ecs-deploy-follow-" + hex.EncodeToString(b[:])
	created, err := sqsClient.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	f := &Follower{sqs: sqsClient, sns: snsClient, queueURL: aws.ToString(created.QueueUrl)}
	// A new queue may not be usable for a moment on AWS: QueueArn waits.
	queueArn, err := sqsx.QueueArn(ctx, sqsClient, f.queueURL)
	if err != nil {
		return nil, errors.Join(err, f.Close(ctx))
	}
	if !opts.NoQueuePolicy {
		if err := allowTopic(ctx, sqsClient, f.queueURL, queueArn, topicArn); err != nil {
			return nil, errors.Join(err, f.Close(ctx))
		}
	}
	subAttrs := map[string]string{"RawMessageDelivery": "true"}
	filter := map[string][]string{}
	if opts.App != "" {
		filter["app"] = []string{opts.App}
	}
	if opts.Env != "" {
		filter["env"] = []string{opts.Env}
	}
	if len(filter) > 0 {
		b, _ := json.Marshal(filter)
		subAttrs["FilterPolicy"] = string(b)
	}
	sub, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicArn), Protocol: aws.String("sqs"),
		Endpoint: aws.String(queueArn), Attributes: subAttrs, ReturnSubscriptionArn: true})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("subscribe %s to %s: %w", name, topicArn, err), f.Close(ctx))
	}
	f.subArn = aws.ToString(sub.SubscriptionArn)
	return f, nil
}

// allowTopic sets the queue policy that lets the topic send to the queue.
func allowTopic(ctx context.Context, sqsClient *sqs.Client, queueURL, queueArn, topicArn string) error {
	policy, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]string{"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
		"Resource": queueArn, "Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": topicArn}}}}})
	if _, err := sqsClient.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		Attributes: map[string]string{"Policy": string(policy)}}); err != nil {
		return fmt.Errorf("allow %s to deliver to %s: %w", topicArn, queueURL, err)
	}
	return nil
}

// Next returns the next event, waiting for it until ctx ends.
func (f *Follower) Next(ctx context.Context) (events.Event, error) {
	for len(f.pending) == 0 {
		out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return events.Event{}, fmt.Errorf("receive events: %w", err)
		}
		for _, m := range out.Messages {
			var e events.Event
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &e); err == nil {
				f.pending = append(f.pending, e)
			}
			if _, err := f.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return events.Event{}, fmt.Errorf("delete event message: %w", err)
			}
		}
	}
	e := f.pending[0]
	f.pending = f.pending[1:]
	return e, nil
}

// Close unsubscribes and deletes the queue.
func (f *Follower) Close(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	if f.subArn != "" {
		if _, err := f.sns.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(f.subArn)}); err != nil {
			errs = append(errs, fmt.Errorf("unsubscribe: %w", err))
		}
	}
	if _, err := f.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(f.queueURL)}); err != nil {
		errs = append(errs, fmt.Errorf("delete queue: %w", err))
	}
	return errors.Join(errs...)
}
