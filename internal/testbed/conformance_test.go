package testbed_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"cirello.io/dynamolock/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/internal/faults"
	"ecs-deploy/internal/testbed"
)

func sdkConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// TestConformanceSQSSNS runs the queue and topic behaviour the daemon relies
// on against goaws: send, receive with attributes, visibility, delete, and a
// topic delivering raw messages to a queue through a filter policy.
func TestConformanceSQSSNS(t *testing.T) {
	endpoint := testbed.Goaws(t)
	ctx := t.Context()
	q := sqs.NewFromConfig(sdkConfig(endpoint))
	n := sns.NewFromConfig(sdkConfig(endpoint))

	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("requests"),
		Attributes: map[string]string{"VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatal(err)
	}
	qURL := created.QueueUrl
	if got, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("requests")}); err != nil || *got.QueueUrl != *qURL {
		t.Fatalf("GetQueueUrl: %v %v", got, err)
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: qURL, MessageBody: aws.String(`{"app":"shop"}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{"correlation_id": {DataType: aws.String("String"), StringValue: aws.String("c-1")}}}); err != nil {
		t.Fatal(err)
	}
	recv := func(wait int32) []sqstypes.Message {
		t.Helper()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qURL, MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	msgs := recv(1)
	if len(msgs) != 1 || *msgs[0].Body != `{"app":"shop"}` || *msgs[0].MessageAttributes["correlation_id"].StringValue != "c-1" {
		t.Fatalf("received %+v", msgs)
	}
	if again := recv(0); len(again) != 0 {
		t.Fatalf("message visible again within its visibility timeout: %+v", again)
	}
	if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: qURL, ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	msgs = recv(1)
	if len(msgs) != 1 {
		t.Fatalf("after visibility 0: %d messages, want 1", len(msgs))
	}
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: qURL, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: qURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["QueueArn"] == "" {
		t.Fatalf("queue attributes after delete: %v", attrs.Attributes)
	}

	// A topic delivering to a queue, raw, filtered on event_type.
	topic, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("deploy-events")})
	if err != nil {
		t.Fatal(err)
	}
	events, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("slack")})
	if err != nil {
		t.Fatal(err)
	}
	evAttrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: events.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	filter, _ := json.Marshal(map[string][]string{"event_type": {"deploy.succeeded", "deploy.failed"}})
	if _, err := n.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String(evAttrs.Attributes["QueueArn"]),
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": string(filter)}}); err != nil {
		t.Fatal(err)
	}
	publish := func(eventType, body string) {
		t.Helper()
		if _, err := n.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(body),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{
				"event_type": {DataType: aws.String("String"), StringValue: aws.String(eventType)},
				"deploy_id":  {DataType: aws.String("String"), StringValue: aws.String("d-1")}}}); err != nil {
			t.Fatal(err)
		}
	}
	publish("step.started", `{"step":3}`)
	publish("deploy.succeeded", `{"ok":true}`)
	var got []sqstypes.Message
	deadline := time.Now().Add(5 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: events.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.Messages...)
	}
	if len(got) != 1 || *got[0].Body != `{"ok":true}` {
		t.Fatalf("filtered raw delivery: %+v", got)
	}
	if a, ok := got[0].MessageAttributes["deploy_id"]; !ok || *a.StringValue != "d-1" {
		t.Fatalf("raw delivery lost the message attributes: %+v", got[0].MessageAttributes)
	}
}

// TestConformanceDynamoDB runs the conditional writes and the lock library
// the deploy lock is built on against dynalite.
func TestConformanceDynamoDB(t *testing.T) {
	endpoint := testbed.Dynalite(t)
	ctx := t.Context()
	db := dynamodb.NewFromConfig(sdkConfig(endpoint))

	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("requests"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, db, "requests")
	put := func() error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("requests"),
			Item:                map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "r-1"}, "state": &ddbtypes.AttributeValueMemberS{Value: "running"}},
			ConditionExpression: aws.String("attribute_not_exists(id)")})
		return err
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	var ccf *ddbtypes.ConditionalCheckFailedException
	if err := put(); !errors.As(err, &ccf) {
		t.Fatalf("second conditional put: %v, want ConditionalCheckFailedException", err)
	}
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("requests"),
		Key:                       map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "r-1"}},
		UpdateExpression:          aws.String("SET #s = :done"),
		ConditionExpression:       aws.String("#s = :running"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":done": &ddbtypes.AttributeValueMemberS{Value: "done"}, ":running": &ddbtypes.AttributeValueMemberS{Value: "running"}}}); err != nil {
		t.Fatal(err)
	}
	item, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("requests"), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "r-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := item.Item["state"].(*ddbtypes.AttributeValueMemberS).Value; s != "done" {
		t.Fatalf("state = %q, want done", s)
	}

	// dynamolock: a second owner cannot take a held lock; after release it can.
	newLock := func(owner string) *dynamolock.Client {
		c, err := dynamolock.New(db, "DeployLock", dynamolock.WithOwnerName(owner),
			dynamolock.WithLeaseDuration(2*time.Second), dynamolock.WithHeartbeatPeriod(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	a, b := newLock("daemon-a"), newLock("daemon-b")
	if _, err := a.CreateTableWithContext(ctx, "DeployLock"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, db, "DeployLock")
	held, err := a.AcquireLockWithContext(ctx, "shop-prod", dynamolock.WithData([]byte(`{"step":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.AcquireLockWithContext(ctx, "shop-prod", dynamolock.FailIfLocked())
	var notGranted *dynamolock.LockNotGrantedError
	if !errors.As(err, &notGranted) {
		t.Fatalf("second owner: %v, want LockNotGrantedError", err)
	}
	if ok, err := a.ReleaseLockWithContext(ctx, held); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	if _, err := b.AcquireLockWithContext(ctx, "shop-prod", dynamolock.FailIfLocked()); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// TestFaultProxy puts the fault-injecting proxy in front of goaws and
// dynalite: throttled calls are retried by the SDK, dropped ones fail.
func TestFaultProxy(t *testing.T) {
	ctx := t.Context()
	proxy := func(endpoint string, in *faults.Injector) string {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(faults.NewProxy(u, in))
		t.Cleanup(srv.Close)
		return srv.URL
	}

	dbFaults := faults.NewInjector(1)
	db := dynamodb.NewFromConfig(sdkConfig(proxy(testbed.Dynalite(t), dbFaults)))
	if err := dbFaults.Add(faults.Rule{Operation: "ListTables", ThrottleRate: 1, Times: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("throttled twice, then retried: %v", err)
	}
	if got := dbFaults.Injected()[faults.Throttle]; got != 2 {
		t.Fatalf("throttled %d times, want 2", got)
	}

	qFaults := faults.NewInjector(1)
	cfg := sdkConfig(proxy(testbed.Goaws(t), qFaults))
	cfg.RetryMaxAttempts = 1
	q := sqs.NewFromConfig(cfg)
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("proxied")})
	if err != nil {
		t.Fatal(err)
	}
	if err := qFaults.Add(faults.Rule{Operation: "SendMessage", DropRate: 1, Times: 1}); err != nil {
		t.Fatal(err)
	}
	send := func() error {
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String("x")})
		return err
	}
	if err := send(); err == nil {
		t.Fatal("dropped SendMessage returned no error")
	}
	if err := send(); err != nil {
		t.Fatalf("after the drop: %v", err)
	}
}

// waitActive waits until a new table can be used: dynalite, like DynamoDB,
// creates tables asynchronously.
func waitActive(t *testing.T, db *dynamodb.Client, table string) {
	t.Helper()
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := w.Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		t.Fatal(err)
	}
}
