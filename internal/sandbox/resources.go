package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"ecs-deploy/events"
	"ecs-deploy/handlers"
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
	// filter policy on event_type: what the slack and artifactdb roles
	// read. Each has its dead-letter queue, for the events its role rejects.
	SlackQueue, SlackDeadLetterQueue           string
	ArtifactDBQueue, ArtifactDBDeadLetterQueue string
	// LockTable and RequestsTable are the daemon's DynamoDB tables.
	LockTable, RequestsTable string
}

// DefaultNames are the names the daemon's flags default to, where they
// have a default.
func DefaultNames() Names {
	return Names{Queue: "deploy-requests", DeadLetterQueue: "deploy-requests-dlq", Topic: "deploy-events",
		SlackQueue: "deploy-events-slack", SlackDeadLetterQueue: "deploy-events-slack-dlq",
		ArtifactDBQueue: "deploy-events-artifactdb", ArtifactDBDeadLetterQueue: "deploy-events-artifactdb-dlq",
		LockTable: "DeployLock", RequestsTable: "DeployRequests"}
}

// Provisioned says what Provision created.
type Provisioned struct {
	QueueURL, DeadLetterURL, TopicArn string
	SlackQueueURL, ArtifactDBQueueURL string
	LockTable, RequestsTable          string
}

// Provision creates what the daemon and its roles use, as the daemon's
// -create-resources does: the request queue with a redrive policy to its
// dead-letter queue, the event topic, the role queues (with theirs)
// subscribed to it with raw delivery and the roles' filter policies
// (handlers.SlackEvents, handlers.RecordedEvents), and the tables (the
// requests table with TTL on expires_at where the stand-in has TTL). What
// exists already is kept. For local use: goaws refuses queue policies, so
// none is set.
func Provision(ctx context.Context, cfg aws.Config, n Names, visibility time.Duration) (Provisioned, error) {
	sqsC, snsC, ddb := sqs.NewFromConfig(cfg), sns.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg)
	var p Provisioned
	q, err := sqsx.CreateRequestQueues(ctx, sqsC, n.Queue, n.DeadLetterQueue, visibility)
	if err != nil {
		return p, err
	}
	p.QueueURL, p.DeadLetterURL = q.URL, q.DeadLetterURL
	topic, err := snsC.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(n.Topic)})
	if err != nil {
		return p, fmt.Errorf("create topic %s: %w", n.Topic, err)
	}
	p.TopicArn = aws.ToString(topic.TopicArn)
	for _, r := range []struct {
		queue, deadLetter string
		types             []events.Type
		url               *string
	}{
		{n.SlackQueue, n.SlackDeadLetterQueue, handlers.SlackEvents, &p.SlackQueueURL},
		{n.ArtifactDBQueue, n.ArtifactDBDeadLetterQueue, handlers.RecordedEvents, &p.ArtifactDBQueueURL},
	} {
		q, err := sqsx.CreateEventQueues(ctx, sqsC, snsC, p.TopicArn, r.queue, r.deadLetter, typeNames(r.types), visibility)
		if err != nil {
			return p, err
		}
		*r.url = q.URL
	}
	locker, err := pipeline.NewLocker(ddb, pipeline.LockConfig{Table: n.LockTable})
	if err != nil {
		return p, err
	}
	if err := locker.CreateTable(ctx, ddb); err != nil {
		return p, err
	}
	// records.CreateTable turns TTL on; a stand-in without it (dynalite)
	// keeps records for ever, which a local stack can live with.
	if err := (records.Store{DB: ddb, Table: n.RequestsTable}).CreateTable(ctx, ddb); err != nil && !errors.Is(err, records.ErrNoTTL) {
		return p, err
	}
	p.LockTable, p.RequestsTable = n.LockTable, n.RequestsTable
	return p, nil
}

func typeNames(types []events.Type) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = string(t)
	}
	return out
}
