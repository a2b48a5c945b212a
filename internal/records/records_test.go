package records_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/testbed"
)

func TestRecords(t *testing.T) {
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(testbed.Dynalite(t))})
	s := records.Store{DB: db, Table: "DeployRequests"}
	ctx := t.Context()
	if err := s.CreateTable(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(ctx, "r-1"); ok || err != nil {
		t.Fatalf("unknown request: %v %v", ok, err)
	}
	if _, created, err := s.Begin(ctx, records.Record{RequestID: "r-1", App: "shop", Env: "prod"}); !created || err != nil {
		t.Fatalf("first Begin: %v %v", created, err)
	}
	again, created, err := s.Begin(ctx, records.Record{RequestID: "r-1", App: "shop", Env: "prod"})
	if created || err != nil || again.State != "running" || again.Done() {
		t.Fatalf("second Begin: %+v %v %v", again, created, err)
	}
	final := events.Event{Type: events.DeploySucceeded, DeployID: "r-1", App: "shop", Env: "prod", Message: "done"}
	if err := s.Finish(ctx, "r-1", final); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.Get(ctx, "r-1")
	if !ok || err != nil || !r.Done() || r.Final.Message != "done" || r.State != string(events.DeploySucceeded) {
		t.Fatalf("after Finish: %+v %v %v", r, ok, err)
	}
}
