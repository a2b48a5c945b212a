package eventbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"ecs-deploy/events"
	"ecs-deploy/internal/eventbus"
	"ecs-deploy/internal/testbed"
)

func TestPublishAndFollow(t *testing.T) {
	endpoint := testbed.Goaws(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), BaseEndpoint: aws.String(endpoint)}
	sqsc, snsc := sqs.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("deploy-events")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := eventbus.Follow(ctx, sqsc, snsc, *topic.TopicArn, eventbus.FollowOptions{App: "a", Env: "e", NoQueuePolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	pub := eventbus.Publisher{SNS: snsc, TopicArn: *topic.TopicArn}
	for _, e := range []events.Event{
		{Type: events.DeployStarted, DeployID: "d-2", App: "a", Env: "other"},
		{Type: events.DeployStarted, DeployID: "d-1", App: "a", Env: "e", CorrelationID: "c-1"},
		{Type: events.DeploySucceeded, DeployID: "d-1", App: "a", Env: "e"},
	} {
		if err := pub.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var got []events.Event
	for len(got) < 2 {
		e, err := f.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if got[0].DeployID != "d-1" || got[0].Schema != events.EventSchema || got[1].Type != events.DeploySucceeded {
		t.Fatalf("followed %+v", got)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	queues, err := sqsc.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(queues.QueueUrls) != 0 {
		t.Fatalf("queues left behind: %v", queues.QueueUrls)
	}
}
