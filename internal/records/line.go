package records

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Line is the waiting line of each app and environment: the requests that
// wait for its deploy lock, on any daemon, so they run in the order they
// were sent. It is one item per app and environment in the records table,
// keyed "line/<app>/<env>" (no request ID has a '/'), with an attribute per
// place.
type Line struct {
	DB    DynamoDBAPI
	Table string
}

// Place is one request's place in a line.
type Place struct {
	RequestID string
	// Sent is when SQS took the request's message.
	Sent time.Time
	// First puts the place ahead of every place without it: rollbacks,
	// aborts, and deploys taken over after an interruption.
	First bool
	// Seen is when the daemon holding the request last said it still
	// waits; a place not seen for a while belongs to a daemon that died.
	Seen time.Time
	// Owner names that daemon.
	Owner string
}

// Before says whether p comes before q in a line.
func (p Place) Before(q Place) bool {
	if p.First != q.First {
		return p.First
	}
	if !p.Sent.Equal(q.Sent) {
		return p.Sent.Before(q.Sent)
	}
	return p.RequestID < q.RequestID
}

const placePrefix = "w:"

func lineKey(app, env string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"request_id": str("line/" + app + "/" + env)}
}

// Join puts p in the line of app and env, or refreshes it.
func (l Line) Join(ctx context.Context, app, env string, p Place) error {
	first := "0"
	if p.First {
		first = "1"
	}
	n := func(t time.Time) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
	}
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(l.Table), Key: lineKey(app, env),
		UpdateExpression:         aws.String("SET #p = :p"),
		ExpressionAttributeNames: map[string]string{"#p": placePrefix + p.RequestID},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
			"sent": n(p.Sent), "seen": n(p.Seen), "first": &ddbtypes.AttributeValueMemberN{Value: first}, "owner": str(p.Owner)}}},
	})
	if err != nil {
		return fmt.Errorf("join the waiting line of %s/%s as %s: %w", app, env, p.RequestID, err)
	}
	return nil
}

// Leave takes a request out of the line of app and env.
func (l Line) Leave(ctx context.Context, app, env, requestID string) error {
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(l.Table), Key: lineKey(app, env),
		UpdateExpression: aws.String("REMOVE #p"), ExpressionAttributeNames: map[string]string{"#p": placePrefix + requestID}})
	if err != nil {
		return fmt.Errorf("leave the waiting line of %s/%s as %s: %w", app, env, requestID, err)
	}
	return nil
}

// Read returns the line of app and env, first place first.
func (l Line) Read(ctx context.Context, app, env string) ([]Place, error) {
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.Table), Key: lineKey(app, env), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read the waiting line of %s/%s: %w", app, env, err)
	}
	var places []Place
	for k, v := range out.Item {
		id, ok := strings.CutPrefix(k, placePrefix)
		m, isMap := v.(*ddbtypes.AttributeValueMemberM)
		if !ok || !isMap {
			continue
		}
		num := func(k string) int64 {
			if v, ok := m.Value[k].(*ddbtypes.AttributeValueMemberN); ok {
				n, _ := strconv.ParseInt(v.Value, 10, 64)
				return n
			}
			return 0
		}
		places = append(places, Place{RequestID: id, Sent: time.UnixMilli(num("sent")), Seen: time.UnixMilli(num("seen")),
			First: num("first") == 1, Owner: get(m.Value, "owner")})
	}
	slices.SortFunc(places, func(a, b Place) int {
		if a.Before(b) {
			return -1
		}
		if b.Before(a) {
			return 1
		}
		return 0
	})
	return places, nil
}
