// Package sqsx adapts watermill-aws's SQS subscriber and publisher to what
// the daemon needs: system attributes and the receipt handle in message
// metadata (a sender's attributes under those names dropped), acks that
// hold while the daemon drains, visibility control, dead letters within
// SQS's ten attributes, the request queues as production has them, and
// queue lookups that understand goaws's untyped errors.
package sqsx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/handlers"
)

// Unmarshaler is watermill-aws's, with the message's ID as its UUID, and
// the receipt handle, message ID, SenderId, SentTimestamp and time of
// receipt in the metadata. A sender's attributes under the daemon's own
// names are dropped first, so nobody can pose as another sender; a message
// without a correlation_id gets its message ID, the same on every
// redelivery.
type Unmarshaler struct {
	wsqs.DefaultMarshalerUnmarshaler
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (u Unmarshaler) Unmarshal(m *sqstypes.Message) (*message.Message, error) {
	if _, ok := m.MessageAttributes[wsqs.UUIDAttribute]; ok {
		attrs := make(map[string]sqstypes.MessageAttributeValue, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			if k != wsqs.UUIDAttribute {
				attrs[k] = v
			}
		}
		cp := *m
		cp.MessageAttributes = attrs
		m = &cp
	}
	msg, err := u.DefaultMarshalerUnmarshaler.Unmarshal(m)
	if err != nil {
		return nil, err
	}
	for k := range msg.Metadata {
		if handlers.OwnAttribute(k) {
			delete(msg.Metadata, k)
		}
	}
	now := time.Now
	if u.Now != nil {
		now = u.Now
	}
	id := aws.ToString(m.MessageId)
	msg.UUID = id
	msg.Metadata.Set(handlers.MetaMessageID, id)
	msg.Metadata.Set(handlers.MetaReceiptHandle, aws.ToString(m.ReceiptHandle))
	msg.Metadata.Set(handlers.MetaReceivedAt, fmt.Sprint(now().UnixMilli()))
	for attr, key := range map[string]string{"SenderId": handlers.MetaSenderID, "SentTimestamp": handlers.MetaSentTimestamp} {
		if v, ok := m.Attributes[attr]; ok {
			msg.Metadata.Set(key, v)
		}
	}
	if msg.Metadata.Get(handlers.MetaCorrelationID) == "" {
		msg.Metadata.Set(handlers.MetaCorrelationID, id)
	}
	return msg, nil
}

// ReceiveInput asks for every system attribute, and waits at most
// waitSeconds so a closing subscriber returns soon.
func ReceiveInput(waitSeconds int32) wsqs.GenerateReceiveMessageInputFunc {
	return func(ctx context.Context, queueURL wsqs.QueueURL) (*sqs.ReceiveMessageInput, error) {
		return &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(string(queueURL)),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			WaitTimeSeconds:             waitSeconds,
			MaxNumberOfMessages:         1,
		}, nil
	}
}

// MaxInvisible is how long SQS keeps a received message invisible at
// most, counted from its receipt; past it, ChangeMessageVisibility fails.
const MaxInvisible = 12 * time.Hour

// VisibilityAPI is what Visibility calls of SQS.
type VisibilityAPI interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

var _ VisibilityAPI = (*sqs.Client)(nil)

// Visibility changes a received message's visibility timeout.
type Visibility struct {
	SQS      VisibilityAPI
	QueueURL string
}

var _ handlers.Visibility = Visibility{}

// Set makes the message invisible for d from now; 0 makes it visible now,
// for any daemon to receive.
func (v Visibility) Set(ctx context.Context, msg *message.Message, d time.Duration) error {
	handle := msg.Metadata.Get(handlers.MetaReceiptHandle)
	if handle == "" {
		return errors.New("message has no receipt handle")
	}
	secs := int32(d.Round(time.Second).Seconds())
	if d > 0 && secs == 0 {
		secs = 1
	}
	_, err := v.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(v.QueueURL),
		ReceiptHandle: aws.String(handle), VisibilityTimeout: secs})
	if err != nil {
		return fmt.Errorf("change visibility of message %s: %w", msg.UUID, err)
	}
	return nil
}

// QueueMissing says whether err means the queue does not exist, typed as
// AWS sends it or untyped as goaws does.
func QueueMissing(err error) bool {
	var typed *sqstypes.QueueDoesNotExist
	if errors.As(err, &typed) {
		return true
	}
	var apiErr interface{ ErrorCode() string }
	return errors.As(err, &apiErr) && (strings.Contains(apiErr.ErrorCode(), "NonExistentQueue") || strings.Contains(apiErr.ErrorCode(), "QueueDoesNotExist"))
}

// QueueURL returns the URL of a queue given by name or URL.
func QueueURL(ctx context.Context, c *sqs.Client, nameOrURL string) (string, error) {
	if strings.HasPrefix(nameOrURL, "http://") || strings.HasPrefix(nameOrURL, "https://") {
		return nameOrURL, nil
	}
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", nameOrURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// QueueArn returns a queue's ARN. A queue created a moment ago may not be
// usable yet on AWS ("wait at least one second after the queue is
// created"): a missing queue is asked again for up to ten seconds.
func QueueArn(ctx context.Context, c *sqs.Client, url string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err == nil {
			return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
		}
		if !QueueMissing(err) || time.Now().After(deadline) {
			return "", fmt.Errorf("ARN of queue %s: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ResolvedURL is a queue resolver for topics that are already queue URLs,
// found or created when the daemon started: they exist.
type ResolvedURL struct{}

func (ResolvedURL) ResolveQueueUrl(_ context.Context, p wsqs.ResolveQueueUrlParams) (wsqs.QueueUrlResolverResult, error) {
	url := wsqs.QueueURL(p.Topic)
	exists := true
	return wsqs.QueueUrlResolverResult{QueueName: wsqs.QueueName(QueueName(p.Topic)), QueueURL: &url, Exists: &exists}, nil
}

// QueueName is the name of a queue given by name or URL.
func QueueName(nameOrURL string) string { return nameOrURL[strings.LastIndex(nameOrURL, "/")+1:] }
