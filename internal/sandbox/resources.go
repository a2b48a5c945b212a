package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/sqsx"
	"ecs-deploy/pipeline"
)

// Names are the names of the resources a local setup creates.
type Names struct {
	// Queue takes deploy requests; DeadLetterQueue gets the rejected ones.
	Queue, DeadLetterQueue string
	// Topic gets the events.
	Topic string
	// SlackQueue and ArtifactDBQueue are subscribed to Topic, each with a
	// filter policy on event_type: what the slack and artifactdb roles read.
	SlackQueue, ArtifactDBQueue string
	// LockTable and RequestsTable are the daemon's DynamoDB tables.
	LockTable, RequestsTable string
}

// DefaultNames are the names the daemon's flags default to, where they
// have a default.
func DefaultNames() Names {
	return Names{Queue: "deploy-requests", DeadLetterQueue: "deploy-requests-dlq", Topic: "deploy-events",
		SlackQueue: "deploy-events-slack", ArtifactDBQueue: "deploy-events-artifactdb",
		LockTable: "DeployLock", RequestsTable: "DeployRequests"}
}

// Provisioned says what Provision created.
type Provisioned struct {
	QueueURL, DeadLetterURL, TopicArn string
	SlackQueueURL, ArtifactDBQueueURL string
	LockTable, RequestsTable          string
}

// Filter policies of the role queues: the Slack notifier reads every
// event of a deploy's life, the ArtifactDB recorder only the ends.
var (
	slackEvents      = []events.Type{events.DeployAccepted, events.DeployRejected, events.DeployQueued, events.DeployStarted, events.StepStarted, events.StepSucceeded, events.StepFailed, events.DeploySucceeded, events.DeployFailed, events.DeployRolledBack}
	artifactDBEvents = []events.Type{events.DeploySucceeded, events.DeployFailed, events.DeployRolledBack}
)

// Provision creates what the daemon and its roles use, as an operator
// would on AWS: the request queue with a redrive policy to its dead-letter
// queue, the event topic, the role queues subscribed to it with raw
// delivery and filter policies, and the tables (the requests table with
// TTL on expires_at where the stand-in has TTL). What exists already is
// kept. For local use: goaws refuses queue policies, so none is set.
func Provision(ctx context.Context, cfg aws.Config, n Names, visibility time.Duration) (Provisioned, error) {
	sqsC, snsC, ddb := sqs.NewFromConfig(cfg), sns.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg)
	var p Provisioned
	var err error
	if p.DeadLetterURL, err = createQueue(ctx, sqsC, n.DeadLetterQueue, nil); err != nil {
		return p, err
	}
	dlqArn, err := sqsx.QueueArn(ctx, sqsC, p.DeadLetterURL)
	if err != nil {
		return p, err
	}
	if p.QueueURL, err = createQueue(ctx, sqsC, n.Queue, map[string]string{
		"RedrivePolicy":     fmt.Sprintf(`{"maxReceiveCount":"10","deadLetterTargetArn":"%s"}`, dlqArn),
		"VisibilityTimeout": fmt.Sprint(int(visibility.Seconds())),
	}); err != nil {
		return p, err
	}
	topic, err := snsC.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(n.Topic)})
	if err != nil {
		return p, fmt.Errorf("create topic %s: %w", n.Topic, err)
	}
	p.TopicArn = aws.ToString(topic.TopicArn)
	if p.SlackQueueURL, err = subscribedQueue(ctx, sqsC, snsC, n.SlackQueue, p.TopicArn, slackEvents); err != nil {
		return p, err
	}
	if p.ArtifactDBQueueURL, err = subscribedQueue(ctx, sqsC, snsC, n.ArtifactDBQueue, p.TopicArn, artifactDBEvents); err != nil {
		return p, err
	}
	locker, err := pipeline.NewLocker(ddb, pipeline.LockConfig{Table: n.LockTable})
	if err != nil {
		return p, err
	}
	if err := locker.CreateTable(ctx, ddb); err != nil {
		return p, err
	}
	// A stand-in without TTL (dynalite) keeps its records: a local stack
	// can live with that.
	if err := (records.Store{DB: ddb, Table: n.RequestsTable}).CreateTable(ctx, ddb); err != nil && !errors.Is(err, records.ErrNoTTL) {
		return p, err
	}
	p.LockTable, p.RequestsTable = n.LockTable, n.RequestsTable
	return p, nil
}

func createQueue(ctx context.Context, c *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// subscribedQueue creates a queue and subscribes it to the topic, with raw
// delivery and a filter policy on event_type.
func subscribedQueue(ctx context.Context, sqsC *sqs.Client, snsC *sns.Client, name, topicArn string, types []events.Type) (string, error) {
	url, err := createQueue(ctx, sqsC, name, nil)
	if err != nil {
		return "", err
	}
	arn, err := sqsx.QueueArn(ctx, sqsC, url)
	if err != nil {
		return "", err
	}
	filter, _ := json.Marshal(map[string][]events.Type{"event_type": types})
	if _, err := snsC.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicArn), Protocol: aws.String("sqs"), Endpoint: aws.String(arn),
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": string(filter)}, ReturnSubscriptionArn: true}); err != nil {
		return "", fmt.Errorf("subscribe %s to %s: %w", name, topicArn, err)
	}
	return url, nil
}
