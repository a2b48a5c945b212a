package rig

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/events"
	"ecs-deploy/internal/sqsx"
)

// Queue is a request queue and its dead-letter queue.
type Queue struct {
	Name, URL, DeadLetterURL string
}

// NewQueue creates a request queue with its dead-letter queue and the
// production redrive policy, as the daemon's -create-resources does.
func (r *Rig) NewQueue(ctx context.Context, name string, visibility time.Duration) (Queue, error) {
	dlq, err := sqsx.DeadLetterName(name)
	if err != nil {
		return Queue{}, err
	}
	q, err := sqsx.CreateRequestQueues(ctx, r.SQS, name, dlq, visibility)
	if err != nil {
		return Queue{}, err
	}
	return Queue{Name: name, URL: q.URL, DeadLetterURL: q.DeadLetterURL}, nil
}

// Sent is a message the rig sent.
type Sent struct {
	MessageID string
	// At is when the send began.
	At time.Time
}

// Request is a deploy request as enqueue builds it.
func Request(id, app string, build int, mode string) events.Request {
	return events.Request{Schema: events.RequestSchema, RequestID: id, App: app, Env: Env, Build: build, Mode: mode, RequestedBy: "rig"}
}

// Send puts a request on the queue, with its request ID as correlation
// ID, as any SQS client may.
func (r *Rig) Send(ctx context.Context, q Queue, req events.Request) (Sent, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return Sent{}, err
	}
	return r.SendRaw(ctx, q, string(b), req.RequestID)
}

// SendRaw puts any body on the queue, with a correlation ID when set.
func (r *Rig) SendRaw(ctx context.Context, q Queue, body, correlationID string) (Sent, error) {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(body)}
	if correlationID != "" {
		in.MessageAttributes = map[string]sqstypes.MessageAttributeValue{
			"correlation_id": {DataType: aws.String("String"), StringValue: aws.String(correlationID)}}
	}
	at := time.Now()
	out, err := r.SQS.SendMessage(ctx, in)
	if err != nil {
		return Sent{}, fmt.Errorf("send to %s: %w", q.Name, err)
	}
	return Sent{MessageID: aws.ToString(out.MessageId), At: at}, nil
}

// Depth is how many messages a queue holds, visible or in flight.
func (r *Rig) Depth(ctx context.Context, url string) (int, error) {
	out, err := r.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return 0, fmt.Errorf("attributes of %s: %w", url, err)
	}
	n := 0
	for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		var v int
		_, _ = fmt.Sscan(out.Attributes[k], &v)
		n += v
	}
	return n, nil
}

// Drain receives every message a queue holds (visible ones; in-flight
// ones come back after their visibility timeout) and deletes them.
func (r *Rig) Drain(ctx context.Context, url string) ([]sqstypes.Message, error) {
	var all []sqstypes.Message
	for {
		out, err := r.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 0})
		if err != nil {
			return all, fmt.Errorf("receive from %s: %w", url, err)
		}
		if len(out.Messages) == 0 {
			return all, nil
		}
		for _, m := range out.Messages {
			all = append(all, m)
			if _, err := r.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return all, fmt.Errorf("delete from %s: %w", url, err)
			}
		}
	}
}
