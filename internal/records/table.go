package records

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// TableAPI is what creating the table calls of DynamoDB.
type TableAPI interface {
	dynamodb.DescribeTableAPIClient
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ TableAPI = (*dynamodb.Client)(nil)

// ErrNoTTL says the DynamoDB stand-in has no UpdateTimeToLive (dynalite,
// minidyn): records never expire there.
var ErrNoTTL = errors.New("this DynamoDB does not serve UpdateTimeToLive: records will not expire")

// CreateTable creates the records table, for local use, waits for it, and
// turns on expiry (TTL) on expires_at. A DynamoDB without UpdateTimeToLive
// gets a table all the same, and an error wrapping ErrNoTTL to warn with.
func (s Store) CreateTable(ctx context.Context, db TableAPI) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(s.Table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("request_id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("request_id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", s.Table, err)
	}
	err = dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.Table)}, time.Minute)
	if err != nil {
		return err
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(s.Table),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String("expires_at"), Enabled: aws.Bool(true)}})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr) && (apiErr.ErrorCode() == "UnknownOperationException" || apiErr.ErrorCode() == "UnrecognizedClientException"):
		return fmt.Errorf("table %s: %w", s.Table, ErrNoTTL)
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" && strings.Contains(apiErr.ErrorMessage(), "already enabled"):
		// TTL is already on (AWS refuses to enable it twice).
		return nil
	}
	return fmt.Errorf("turn on expiry for table %s: %w", s.Table, err)
}
