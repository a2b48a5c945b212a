package sqsx

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// MaxReceiveCount is the redrive policy's count of receives after which SQS
// moves a message to the dead-letter queue. The daemon receives a request
// once however long it waits for a lock, so only crashes and passing
// failures count.
const MaxReceiveCount = 10

// queueNamePattern is what SQS takes as a queue name: at most 80 letters,
// digits, '-' and '_', the ".fifo" suffix included.
var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// CheckQueueName says why SQS would refuse a queue name, if it would.
func CheckQueueName(name string) error {
	base, fifo := strings.CutSuffix(name, ".fifo")
	if fifo {
		base += "-fifo" // the suffix counts towards the 80 characters
	}
	if !queueNamePattern.MatchString(base) {
		return fmt.Errorf("queue name %q must be 1 to 80 letters, digits, '-' or '_' (a FIFO queue's name ends in .fifo, counted)", name)
	}
	return nil
}

// DeadLetterName is the default dead-letter queue of a queue: "<queue>-dlq",
// or "<queue>-dlq.fifo" for a FIFO queue, whose dead-letter queue must be
// FIFO too. A name SQS would refuse is an error that says to set one.
func DeadLetterName(queue string) (string, error) {
	base, fifo := strings.CutSuffix(QueueName(queue), ".fifo")
	name := base + "-dlq"
	if fifo {
		name += ".fifo"
	}
	if err := CheckQueueName(name); err != nil {
		return "", fmt.Errorf("the default dead-letter queue of %s: %w: name one with -dead-letter-queue", queue, err)
	}
	return name, nil
}

// RequestQueues are the request queue and its dead-letter queue.
type RequestQueues struct {
	URL, DeadLetterURL string
}

// CreateRequestQueues creates (or finds) the dead-letter queue, then the
// request queue with a redrive policy to it after MaxReceiveCount
// receives, as production has them. Queues that exist are kept as they are.
func CreateRequestQueues(ctx context.Context, c *sqs.Client, queue, deadLetter string, visibility time.Duration) (RequestQueues, error) {
	var q RequestQueues
	var err error
	if q.DeadLetterURL, err = FindOrCreateQueue(ctx, c, deadLetter, nil); err != nil {
		return q, err
	}
	arn, err := QueueArn(ctx, c, q.DeadLetterURL)
	if err != nil {
		return q, err
	}
	q.URL, err = FindOrCreateQueue(ctx, c, queue, map[string]string{
		"RedrivePolicy":     fmt.Sprintf(`{"maxReceiveCount":"%d","deadLetterTargetArn":"%s"}`, MaxReceiveCount, arn),
		"VisibilityTimeout": fmt.Sprint(int(visibility.Seconds())),
	})
	return q, err
}

// FindOrCreateQueue returns a queue's URL, creating the queue with attrs
// when it is missing (a FIFO queue when its name ends in ".fifo").
func FindOrCreateQueue(ctx context.Context, c *sqs.Client, nameOrURL string, attrs map[string]string) (string, error) {
	url, err := QueueURL(ctx, c, nameOrURL)
	if err == nil || !QueueMissing(err) {
		return url, err
	}
	name := QueueName(nameOrURL)
	if err := CheckQueueName(name); err != nil {
		return "", err
	}
	if strings.HasSuffix(name, ".fifo") {
		attrs = maps.Clone(attrs)
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["FifoQueue"] = "true"
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", nameOrURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// SNSSubscribeAPI is what CreateEventQueues calls of SNS.
type SNSSubscribeAPI interface {
	Subscribe(ctx context.Context, in *sns.SubscribeInput, opts ...func(*sns.Options)) (*sns.SubscribeOutput, error)
}

var _ SNSSubscribeAPI = (*sns.Client)(nil)

// CreateEventQueues creates (or finds) a role's queue and its dead-letter
// queue as CreateRequestQueues does, and subscribes the queue to the event
// topic with raw message delivery and a filter policy on event_type: the
// role receives the events it handles and nothing else. Subscribing again
// with the same attributes changes nothing. No queue policy is set (goaws
// refuses them): on AWS the queue also needs one that lets the topic send.
func CreateEventQueues(ctx context.Context, c *sqs.Client, s SNSSubscribeAPI, topicArn, queue, deadLetter string, types []string, visibility time.Duration) (RequestQueues, error) {
	q, err := CreateRequestQueues(ctx, c, queue, deadLetter, visibility)
	if err != nil {
		return q, err
	}
	arn, err := QueueArn(ctx, c, q.URL)
	if err != nil {
		return q, err
	}
	filter, err := json.Marshal(map[string][]string{"event_type": types})
	if err != nil {
		return q, err
	}
	if _, err := s.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicArn), Protocol: aws.String("sqs"), Endpoint: aws.String(arn),
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": string(filter)}, ReturnSubscriptionArn: true}); err != nil {
		return q, fmt.Errorf("subscribe queue %s to %s: %w", queue, topicArn, err)
	}
	return q, nil
}
