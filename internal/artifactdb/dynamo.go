package artifactdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"ecs-deploy/pipeline"
)

// DynamoDBAPI is what the Dynamo store calls of DynamoDB.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Dynamo keeps artifacts in a DynamoDB table, one item per build:
//
//	project  (S, partition key)  ArtifactDB project
//	build    (N, sort key)       build number
//	value    (S)                 the artifact: an image reference
//	tags     (M of S)            SHA=<commit>, deploy-<env>-<sha8>=success, ...
//	registered_at (S)            when the build was registered
//
// The latest build with a tag is found by querying the project newest
// first, filtered on the tag, and stopping at the first match: a build
// being promoted is among the newest, so this reads little. Attribute
// names always go through ExpressionAttributeNames (value is a reserved
// word). Results are written with one conditional UpdateItem that sets the
// result tag and its time together only if no later result is there, so
// concurrent recorders cannot put a late failure over a later success.
type Dynamo struct {
	DB    DynamoDBAPI
	Table string
}

func (d Dynamo) key(project string, build int) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"project": str(project), "build": num(build)}
}

func (d Dynamo) FindArtifact(ctx context.Context, project string, sel pipeline.Selector) (pipeline.Artifact, error) {
	if sel.SHA == "" {
		return d.GetBuild(ctx, project, sel.Build)
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(d.Table),
		KeyConditionExpression:   aws.String("#p = :p"),
		FilterExpression:         aws.String("#t.#sha = :sha"),
		ExpressionAttributeNames: map[string]string{"#p": "project", "#t": "tags", "#sha": "SHA"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":p": str(project), ":sha": str(sel.SHA),
		},
		ScanIndexForward: aws.Bool(false),
		ConsistentRead:   aws.Bool(true),
	}
	pages := dynamodb.NewQueryPaginator(d.DB, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return pipeline.Artifact{}, fmt.Errorf("find %s of project %s in table %s: %w", sel, project, d.Table, err)
		}
		if len(out.Items) > 0 {
			return itemArtifact(out.Items[0])
		}
	}
	return pipeline.Artifact{}, fmt.Errorf("project %s has no artifact with %s: %w", project, sel, pipeline.ErrArtifactNotFound)
}

func (d Dynamo) GetBuild(ctx context.Context, project string, build int) (pipeline.Artifact, error) {
	out, err := d.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.Table), Key: d.key(project, build), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return pipeline.Artifact{}, fmt.Errorf("get build %d of project %s from table %s: %w", build, project, d.Table, err)
	}
	if len(out.Item) == 0 {
		return pipeline.Artifact{}, fmt.Errorf("project %s has no build %d: %w", project, build, pipeline.ErrArtifactNotFound)
	}
	return itemArtifact(out.Item)
}

func (d Dynamo) RecordResult(ctx context.Context, r Result) error {
	if err := r.Validate(); err != nil {
		return err
	}
	// A success may replace a failure that ended at the same moment.
	newer := "#t.#e < :at"
	if r.Outcome == Success {
		newer = "#t.#e <= :at"
	}
	_, err := d.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(d.Table),
		Key:                 d.key(r.Project, r.Build),
		UpdateExpression:    aws.String("SET #t.#k = :v, #t.#e = :at"),
		ConditionExpression: aws.String("attribute_exists(#p) AND (attribute_not_exists(#t.#e) OR " + newer + ")"),
		ExpressionAttributeNames: map[string]string{
			"#p": "project", "#t": "tags", "#k": r.Tag(), "#e": r.EndedTag(),
		},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":v": str(string(r.Outcome)), ":at": str(formatTime(r.EndedAt)),
		},
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Either the build is unknown or a later result is there already.
		if _, err := d.GetBuild(ctx, r.Project, r.Build); err != nil {
			return fmt.Errorf("record %s: %w", r.Tag(), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("record %s on build %d of project %s: %w", r.Tag(), r.Build, r.Project, err)
	}
	return nil
}

func (d Dynamo) Register(ctx context.Context, project string, a pipeline.Artifact) error {
	if project == "" || a.BuildNumber <= 0 || a.Value == "" {
		return fmt.Errorf("register build %d of project %q: a project, a build number and a value are required", a.BuildNumber, project)
	}
	tags := map[string]ddbtypes.AttributeValue{}
	for k, v := range a.Tags {
		tags[k] = str(v)
	}
	item := d.key(project, a.BuildNumber)
	item["value"] = str(a.Value)
	item["tags"] = &ddbtypes.AttributeValueMemberM{Value: tags}
	item["registered_at"] = str(formatTime(time.Now()))
	_, err := d.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.Table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(#p)"), ExpressionAttributeNames: map[string]string{"#p": "project"}})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("register build %d of project %s in table %s: %w", a.BuildNumber, project, d.Table, err)
	}
	if err == nil {
		return nil
	}
	// Registered before: the same artifact gets the tags; another is refused.
	old, err := d.GetBuild(ctx, project, a.BuildNumber)
	if err != nil {
		return err
	}
	if old.Value != a.Value {
		return fmt.Errorf("build %d of %s is %s: %w", a.BuildNumber, project, old.Value, ErrBuildExists)
	}
	if len(a.Tags) == 0 {
		return nil
	}
	set, names, values := "", map[string]string{"#t": "tags", "#v": "value"}, map[string]ddbtypes.AttributeValue{":val": str(a.Value)}
	i := 0
	for k, v := range a.Tags {
		if set != "" {
			set += ", "
		}
		set += fmt.Sprintf("#t.#k%d = :v%d", i, i)
		names[fmt.Sprintf("#k%d", i)] = k
		values[fmt.Sprintf(":v%d", i)] = str(v)
		i++
	}
	_, err = d.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(d.Table), Key: d.key(project, a.BuildNumber),
		UpdateExpression: aws.String("SET " + set), ConditionExpression: aws.String("#v = :val"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	if errors.As(err, &ccf) {
		return fmt.Errorf("build %d of %s changed while being registered: %w", a.BuildNumber, project, ErrBuildExists)
	}
	if err != nil {
		return fmt.Errorf("tag build %d of project %s: %w", a.BuildNumber, project, err)
	}
	return nil
}

// CreateTable creates the artifacts table, for local use, and waits for it.
func (d Dynamo) CreateTable(ctx context.Context, db *dynamodb.Client) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(d.Table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("project"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("build"), AttributeType: ddbtypes.ScalarAttributeTypeN},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("project"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("build"), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode: ddbtypes.BillingModePayPerRequest})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", d.Table, err)
	}
	return dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.Table)}, time.Minute)
}

func itemArtifact(item map[string]ddbtypes.AttributeValue) (pipeline.Artifact, error) {
	a := pipeline.Artifact{Tags: map[string]string{}}
	if n, ok := item["build"].(*ddbtypes.AttributeValueMemberN); ok {
		b, err := strconv.Atoi(n.Value)
		if err != nil {
			return pipeline.Artifact{}, fmt.Errorf("artifact item: build %q: %w", n.Value, err)
		}
		a.BuildNumber = b
	}
	if v, ok := item["value"].(*ddbtypes.AttributeValueMemberS); ok {
		a.Value = v.Value
	}
	if m, ok := item["tags"].(*ddbtypes.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
				a.Tags[k] = s.Value
			}
		}
	}
	return a, nil
}

func str(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }

func num(n int) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(n)}
}
