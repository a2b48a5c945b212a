package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is what DynamoThreads calls of DynamoDB.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// DynamoThreads keeps threads in a DynamoDB table keyed by deploy_id (S),
// the thread as JSON in "thread", and "expires_at" (N) for DynamoDB's TTL,
// so a restarted notifier goes on in the same Slack thread. Writes are
// last-writer-wins: run one slack notifier per queue, or accept that two
// may each post a message for the same deploy.
type DynamoThreads struct {
	DB    DynamoDBAPI
	Table string
	// Retention is how long a thread is kept after its last event. Default 7 days.
	Retention time.Duration
}

var _ ThreadStore = DynamoThreads{}

func (d DynamoThreads) Get(ctx context.Context, deployID string) (Thread, bool, error) {
	out, err := d.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"deploy_id": &ddbtypes.AttributeValueMemberS{Value: deployID}}})
	if err != nil {
		return Thread{}, false, fmt.Errorf("read slack thread of %s: %w", deployID, err)
	}
	v, ok := out.Item["thread"].(*ddbtypes.AttributeValueMemberS)
	if !ok {
		return Thread{}, false, nil
	}
	var t Thread
	if err := json.Unmarshal([]byte(v.Value), &t); err != nil {
		return Thread{}, false, fmt.Errorf("slack thread of %s: %w", deployID, err)
	}
	return t, true, nil
}

func (d DynamoThreads) Put(ctx context.Context, deployID string, t Thread) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	retention := d.Retention
	if retention == 0 {
		retention = 7 * 24 * time.Hour
	}
	_, err = d.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.Table), Item: map[string]ddbtypes.AttributeValue{
		"deploy_id":  &ddbtypes.AttributeValueMemberS{Value: deployID},
		"thread":     &ddbtypes.AttributeValueMemberS{Value: string(b)},
		"expires_at": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(t.UpdatedAt.Add(retention).Unix(), 10)},
	}})
	if err != nil {
		return fmt.Errorf("write slack thread of %s: %w", deployID, err)
	}
	return nil
}

// CreateTable creates the threads table, for local use, and waits for it.
func (d DynamoThreads) CreateTable(ctx context.Context, db *dynamodb.Client) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(d.Table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("deploy_id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("deploy_id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", d.Table, err)
	}
	return dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.Table)}, time.Minute)
}
