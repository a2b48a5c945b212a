// Package records keeps a durable record per deploy request, so a request
// delivered twice deploys once and its outcome can be told again.
package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"ecs-deploy/events"
)

// DynamoDBAPI is what the store calls of DynamoDB.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Record is what is known of one request.
type Record struct {
	RequestID string
	App, Env  string
	// State is "running" until the request ends, then the final event's
	// type: deploy.succeeded, deploy.failed, deploy.rolled_back or
	// deploy.rejected.
	State     string
	Final     *events.Event
	UpdatedAt time.Time
}

// Done says whether the request has ended.
func (r Record) Done() bool { return r.Final != nil }

// Store keeps records in a DynamoDB table keyed by request_id.
type Store struct {
	DB    DynamoDBAPI
	Table string
	// Retention is how long a finished record is kept (DynamoDB TTL on
	// expires_at). Default 30 days.
	Retention time.Duration
}

// Get returns the record of a request, if there is one.
func (s Store) Get(ctx context.Context, requestID string) (Record, bool, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"request_id": str(requestID)}})
	if err != nil {
		return Record{}, false, fmt.Errorf("read request record %s: %w", requestID, err)
	}
	if len(out.Item) == 0 {
		return Record{}, false, nil
	}
	r := Record{RequestID: requestID, App: get(out.Item, "app"), Env: get(out.Item, "env"), State: get(out.Item, "state")}
	r.UpdatedAt, _ = time.Parse(time.RFC3339Nano, get(out.Item, "updated_at"))
	if f := get(out.Item, "final_event"); f != "" {
		var e events.Event
		if err := json.Unmarshal([]byte(f), &e); err != nil {
			return Record{}, false, fmt.Errorf("request record %s: final event: %w", requestID, err)
		}
		r.Final = &e
	}
	return r, true, nil
}

// Begin records that a request started, unless it has a record already:
// then it returns that one and false.
func (s Store) Begin(ctx context.Context, r Record) (Record, bool, error) {
	now := time.Now().UTC()
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table),
		Item: map[string]ddbtypes.AttributeValue{
			"request_id": str(r.RequestID), "app": str(r.App), "env": str(r.Env), "state": str("running"),
			"updated_at": str(now.Format(time.RFC3339Nano)), "expires_at": s.expiry(now),
		},
		ConditionExpression: aws.String("attribute_not_exists(request_id)")})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		existing, _, err := s.Get(ctx, r.RequestID)
		return existing, false, err
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("record request %s: %w", r.RequestID, err)
	}
	r.State, r.UpdatedAt = "running", now
	return r, true, nil
}

// Finish records a request's final event.
func (s Store) Finish(ctx context.Context, requestID string, final events.Event) error {
	body, err := json.Marshal(final)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table),
		Key:                      map[string]ddbtypes.AttributeValue{"request_id": str(requestID)},
		UpdateExpression:         aws.String("SET #s = :s, final_event = :f, updated_at = :u, expires_at = :x, app = :a, env = :e"),
		ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":s": str(string(final.Type)), ":f": str(string(body)), ":u": str(now.Format(time.RFC3339Nano)),
			":x": s.expiry(now),
			":a": str(final.App), ":e": str(final.Env),
		}})
	if err != nil {
		return fmt.Errorf("record the end of request %s: %w", requestID, err)
	}
	return nil
}

// CreateTable creates the records table, for local use, and waits for it.
func (s Store) CreateTable(ctx context.Context, db *dynamodb.Client) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(s.Table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("request_id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("request_id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", s.Table, err)
	}
	return dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.Table)}, time.Minute)
}

// expiry is the TTL of a record written at now.
func (s Store) expiry(now time.Time) ddbtypes.AttributeValue {
	retention := s.Retention
	if retention == 0 {
		retention = 30 * 24 * time.Hour
	}
	return &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(now.Add(retention).Unix())}
}

func str(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }

func get(item map[string]ddbtypes.AttributeValue, k string) string {
	if v, ok := item[k].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
