// Package sqsx adapts watermill-aws's SQS subscriber and publisher to what
// the daemon needs: system attributes and the receipt handle in message
// metadata, visibility control, no internal metadata on republished
// messages, and queue lookups that understand goaws's untyped errors.
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

// Unmarshaler is watermill-aws's, plus the receipt handle, SenderId and
// SentTimestamp in the metadata.
type Unmarshaler struct {
	wsqs.DefaultMarshalerUnmarshaler
}

func (u Unmarshaler) Unmarshal(m *sqstypes.Message) (*message.Message, error) {
	msg, err := u.DefaultMarshalerUnmarshaler.Unmarshal(m)
	if err != nil {
		return nil, err
	}
	msg.Metadata.Set(handlers.MetaReceiptHandle, aws.ToString(m.ReceiptHandle))
	for attr, key := range map[string]string{"SenderId": handlers.MetaSenderID, "SentTimestamp": handlers.MetaSentTimestamp} {
		if v, ok := m.Attributes[attr]; ok {
			msg.Metadata.Set(key, v)
		}
	}
	return msg, nil
}

// Marshaler is watermill-aws's without the metadata that only made sense
// for the received message (receipt handle and the like), so a message
// republished to the dead-letter queue stays within SQS's ten attributes.
type Marshaler struct {
	wsqs.DefaultMarshalerUnmarshaler
}

func (m Marshaler) Marshal(msg *message.Message) (*sqstypes.Message, error) {
	out, err := m.DefaultMarshalerUnmarshaler.Marshal(msg)
	if err != nil {
		return nil, err
	}
	for k := range out.MessageAttributes {
		if strings.HasPrefix(k, "sqs_") {
			delete(out.MessageAttributes, k)
		}
	}
	return out, nil
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

// Visibility changes a received message's visibility timeout.
type Visibility struct {
	SQS      *sqs.Client
	QueueURL string
}

var _ handlers.Visibility = Visibility{}

func (v Visibility) Set(ctx context.Context, msg *message.Message, d time.Duration) error {
	handle := msg.Metadata.Get(handlers.MetaReceiptHandle)
	if handle == "" {
		return errors.New("message has no receipt handle")
	}
	_, err := v.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(v.QueueURL),
		ReceiptHandle: aws.String(handle), VisibilityTimeout: int32(d.Round(time.Second).Seconds())})
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
	return errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorCode(), "NonExistentQueue")
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

// QueueArn returns a queue's ARN.
func QueueArn(ctx context.Context, c *sqs.Client, url string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("ARN of queue %s: %w", url, err)
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
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

// SendInput is watermill-aws's send input plus, for a FIFO queue, a message
// group and a deduplication ID (the message's UUID), which FIFO queues need.
func SendInput(ctx context.Context, queueURL wsqs.QueueURL, msg *sqstypes.Message) (*sqs.SendMessageInput, error) {
	in, err := wsqs.GenerateSendMessageInputDefault(ctx, queueURL, msg)
	if err != nil || !strings.HasSuffix(string(queueURL), ".fifo") {
		return in, err
	}
	in.MessageGroupId = aws.String("dead-letters")
	if id, ok := msg.MessageAttributes[wsqs.UUIDAttribute]; ok && id.StringValue != nil {
		in.MessageDeduplicationId = id.StringValue
	}
	return in, nil
}
