// Package records keeps a durable record per deploy request, so a request
// delivered twice deploys once, a request ID reused for another request is
// caught, the outcome can be told again, and a final event SNS refused is
// published later. The record is the authority on a request's outcome:
// `enqueue -wait` reads it.
//
// The same table holds each app and environment's waiting line (Line).
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
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// States of a request before its final event.
const (
	// StateAccepted: the request passed its checks and is being run.
	StateAccepted = "accepted"
	// StateQueued: the request waits for its app and env's lock.
	StateQueued = "queued"
)

// Record is what is known of one request.
type Record struct {
	RequestID string
	App, Env  string
	// State is accepted or queued until the request ends, then the final
	// event's type: deploy.succeeded, deploy.failed, deploy.rolled_back or
	// deploy.rejected.
	State string
	// Hash and Request identify what the request asked for
	// (events.Request.Hash and Summary).
	Hash    string
	Request *events.RequestSummary
	// Sender is the SQS SenderId of the message that carried it.
	Sender string
	// Message says in words where a request that has not ended stands.
	Message string
	// Final is the final event, once there is one; Unpublished says SNS has
	// not taken it yet.
	Final       *events.Event
	Unpublished bool
	// Rejection is the last rejection of another request sent under this
	// ID (RejectedHash is its hash); it never replaces the record itself.
	Rejection    *events.Event
	RejectedHash string
	UpdatedAt    time.Time
}

// Done says whether the request has ended.
func (r Record) Done() bool { return r.Final != nil }

// Rejected says whether the request ended rejected: nothing ran, so the
// ID may be used again.
func (r Record) Rejected() bool { return r.State == string(events.DeployRejected) }

// Store keeps records in a DynamoDB table keyed by request_id.
type Store struct {
	DB    DynamoDBAPI
	Table string
	// Retention is how long a record is kept after its last change
	// (DynamoDB TTL on expires_at, which CreateTable turns on). Default 30
	// days.
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
	r, err := decode(out.Item)
	return r, err == nil, err
}

// Claim records a request that passed its checks, unless its ID has a
// record that is not a rejection: then it returns that record and false.
// A rejected request's record is replaced: nothing ran for it.
func (s Store) Claim(ctx context.Context, r Record) (Record, bool, error) {
	r.State = StateAccepted
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: s.encode(r),
		ConditionExpression:       aws.String("attribute_not_exists(request_id) OR #s = :rejected"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":rejected": str(string(events.DeployRejected))}})
	if isConditionFailed(err) {
		existing, ok, err := s.Get(ctx, r.RequestID)
		if err == nil && !ok {
			return Record{}, false, fmt.Errorf("request record %s: claimed by another request, then gone", r.RequestID)
		}
		return existing, false, err
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("record request %s: %w", r.RequestID, err)
	}
	return r, true, nil
}

// Save writes a record that was claimed: its state, message and, once
// there is one, final event. A rejection noted meanwhile is kept.
func (s Store) Save(ctx context.Context, r Record) error {
	item := s.encode(r)
	names := map[string]string{}
	values := map[string]ddbtypes.AttributeValue{}
	expr := "SET "
	remove := ""
	i := 0
	for _, k := range []string{"app", "env", "state", "hash", "request", "sender", "message", "final_event", "updated_at", "expires_at", "unpublished"} {
		v, ok := item[k]
		if !ok {
			if k == "unpublished" || k == "message" {
				remove += fmt.Sprintf(", #n%d", i)
				names[fmt.Sprintf("#n%d", i)] = k
				i++
			}
			continue
		}
		if len(values) > 0 {
			expr += ", "
		}
		name, val := fmt.Sprintf("#n%d", i), fmt.Sprintf(":v%d", i)
		names[name], values[val] = k, v
		expr += name + " = " + val
		i++
	}
	if remove != "" {
		expr += " REMOVE " + remove[2:]
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table),
		Key:              map[string]ddbtypes.AttributeValue{"request_id": str(r.RequestID)},
		UpdateExpression: aws.String(expr), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	if err != nil {
		return fmt.Errorf("record request %s (%s): %w", r.RequestID, r.State, err)
	}
	return nil
}

// Reject records a rejection. A request ID without a record, or whose
// record is a rejection, gets the rejection as its record; a record of
// another request keeps its own state and notes the rejection beside it.
func (s Store) Reject(ctx context.Context, r Record) error {
	r.State = string(events.DeployRejected)
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: s.encode(r),
		ConditionExpression:       aws.String("attribute_not_exists(request_id) OR #s = :rejected"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":rejected": str(string(events.DeployRejected))}})
	if !isConditionFailed(err) {
		if err != nil {
			return fmt.Errorf("record the rejection of request %s: %w", r.RequestID, err)
		}
		return nil
	}
	body, _ := json.Marshal(r.Final)
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table),
		Key:                       map[string]ddbtypes.AttributeValue{"request_id": str(r.RequestID)},
		UpdateExpression:          aws.String("SET rejection = :e, rejected_hash = :h"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":e": str(string(body)), ":h": str(r.Hash)}})
	if err != nil {
		return fmt.Errorf("note a rejection beside request %s: %w", r.RequestID, err)
	}
	return nil
}

// Published records that the final event with eventID reached SNS.
func (s Store) Published(ctx context.Context, requestID, eventID string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table),
		Key:                       map[string]ddbtypes.AttributeValue{"request_id": str(requestID)},
		UpdateExpression:          aws.String("REMOVE unpublished"),
		ConditionExpression:       aws.String("unpublished = :id"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":id": str(eventID)}})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("record that request %s's final event was published: %w", requestID, err)
	}
	return nil
}

// Unpublished returns the records whose final event SNS has not taken.
// It scans the table: records expire, so it stays small.
func (s Store) Unpublished(ctx context.Context) ([]Record, error) {
	var out []Record
	var start map[string]ddbtypes.AttributeValue
	for {
		page, err := s.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Table), ExclusiveStartKey: start,
			FilterExpression: aws.String("attribute_exists(unpublished)"), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("scan %s for unpublished final events: %w", s.Table, err)
		}
		for _, item := range page.Items {
			r, err := decode(item)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

func (s Store) encode(r Record) map[string]ddbtypes.AttributeValue {
	now := time.Now().UTC()
	item := map[string]ddbtypes.AttributeValue{
		"request_id": str(r.RequestID), "app": str(r.App), "env": str(r.Env), "state": str(r.State),
		"updated_at": str(now.Format(time.RFC3339Nano)), "expires_at": s.expiry(now),
	}
	for k, v := range map[string]string{"hash": r.Hash, "sender": r.Sender, "message": r.Message} {
		if v != "" {
			item[k] = str(v)
		}
	}
	if r.Request != nil {
		b, _ := json.Marshal(r.Request)
		item["request"] = str(string(b))
	}
	if r.Final != nil {
		b, _ := json.Marshal(r.Final)
		item["final_event"] = str(string(b))
		if r.Unpublished {
			// The event's ID: Published removes it only for this event.
			item["unpublished"] = str(r.Final.EventID)
		}
	}
	return item
}

func decode(item map[string]ddbtypes.AttributeValue) (Record, error) {
	r := Record{RequestID: get(item, "request_id"), App: get(item, "app"), Env: get(item, "env"), State: get(item, "state"),
		Hash: get(item, "hash"), Sender: get(item, "sender"), Message: get(item, "message"), RejectedHash: get(item, "rejected_hash")}
	r.UpdatedAt, _ = time.Parse(time.RFC3339Nano, get(item, "updated_at"))
	_, r.Unpublished = item["unpublished"]
	if v := get(item, "request"); v != "" {
		r.Request = &events.RequestSummary{}
		if err := json.Unmarshal([]byte(v), r.Request); err != nil {
			return Record{}, fmt.Errorf("request record %s: request: %w", r.RequestID, err)
		}
	}
	for attr, dst := range map[string]**events.Event{"final_event": &r.Final, "rejection": &r.Rejection} {
		if v := get(item, attr); v != "" {
			var e events.Event
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				return Record{}, fmt.Errorf("request record %s: %s: %w", r.RequestID, attr, err)
			}
			*dst = &e
		}
	}
	return r, nil
}

// expiry is the TTL of a record written at now.
func (s Store) expiry(now time.Time) ddbtypes.AttributeValue {
	retention := s.Retention
	if retention == 0 {
		retention = 30 * 24 * time.Hour
	}
	return &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(now.Add(retention).Unix())}
}

func isConditionFailed(err error) bool {
	var ccf *ddbtypes.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func str(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }

func get(item map[string]ddbtypes.AttributeValue, k string) string {
	if v, ok := item[k].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
