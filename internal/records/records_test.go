package records_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/testbed"
)

func store(t *testing.T) records.Store {
	t.Helper()
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(testbed.Dynalite(t))})
	s := records.Store{DB: db, Table: "DeployRequests"}
	// dynalite lacks UpdateTimeToLive: the table is made all the same.
	if err := s.CreateTable(t.Context(), db); !errors.Is(err, records.ErrNoTTL) {
		t.Fatalf("CreateTable on dynalite: %v, want ErrNoTTL", err)
	}
	return s
}

func TestRecords(t *testing.T) {
	s := store(t)
	ctx := t.Context()
	if _, ok, err := s.Get(ctx, "r-1"); ok || err != nil {
		t.Fatalf("unknown request: %v %v", ok, err)
	}
	req := events.Request{RequestID: "r-1", App: "shop", Env: "prod", Build: 4, RequestedBy: "ci"}
	sum := req.Summary()
	rec := records.Record{RequestID: "r-1", App: "shop", Env: "prod", Hash: req.Hash(), Request: &sum, Sender: "AROAEXAMPLE:ci"}
	if _, claimed, err := s.Claim(ctx, rec); !claimed || err != nil {
		t.Fatalf("first Claim: %v %v", claimed, err)
	}
	again, claimed, err := s.Claim(ctx, rec)
	if claimed || err != nil || again.State != records.StateAccepted || again.Done() || again.Hash != req.Hash() || again.Request.Build != 4 {
		t.Fatalf("second Claim: %+v %v %v", again, claimed, err)
	}
	// A rejection of another request under the same ID is noted beside it.
	other := req
	other.Build = 5
	rej := events.Event{Type: events.DeployRejected, DeployID: "r-1", Error: "request_id r-1 was used for a different request"}.WithID()
	if err := s.Reject(ctx, records.Record{RequestID: "r-1", App: "shop", Env: "prod", Hash: other.Hash(), Final: &rej}); err != nil {
		t.Fatal(err)
	}
	rec.State, rec.Message = records.StateQueued, "waits for d-0"
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	final := events.Event{Type: events.DeploySucceeded, DeployID: "r-1", App: "shop", Env: "prod", Message: "done"}.WithID()
	rec.State, rec.Message, rec.Final, rec.Unpublished = string(final.Type), "", &final, true
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.Get(ctx, "r-1")
	if !ok || err != nil || !r.Done() || r.Final.EventID != final.EventID || r.State != string(events.DeploySucceeded) || !r.Unpublished ||
		r.Message != "" || r.Rejection == nil || r.RejectedHash != other.Hash() || r.Sender != "AROAEXAMPLE:ci" {
		t.Fatalf("after Save: %+v %v %v", r, ok, err)
	}
	un, err := s.Unpublished(ctx)
	if err != nil || len(un) != 1 || un[0].RequestID != "r-1" {
		t.Fatalf("Unpublished: %+v %v", un, err)
	}
	if err := s.Published(ctx, "r-1", "another-event"); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.Get(ctx, "r-1"); !r.Unpublished {
		t.Fatal("publishing another event marked this one published")
	}
	if err := s.Published(ctx, "r-1", final.EventID); err != nil {
		t.Fatal(err)
	}
	if un, err := s.Unpublished(ctx); err != nil || len(un) != 0 {
		t.Fatalf("Unpublished after Published: %+v %v", un, err)
	}

	// A rejected request's ID may be used again: nothing ran.
	if err := s.Reject(ctx, records.Record{RequestID: "r-2", App: "shop", Env: "prod", Hash: "h1", Final: &rej}); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.Get(ctx, "r-2"); !r.Rejected() || !r.Done() {
		t.Fatalf("rejected record: %+v", r)
	}
	if _, claimed, err := s.Claim(ctx, records.Record{RequestID: "r-2", App: "shop", Env: "prod", Hash: "h2"}); !claimed || err != nil {
		t.Fatalf("Claim after a rejection: %v %v", claimed, err)
	}
}

func TestLine(t *testing.T) {
	s := store(t)
	l := records.Line{DB: s.DB, Table: s.Table}
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	for _, p := range []records.Place{
		{RequestID: "late", Sent: now.Add(2 * time.Second), Seen: now, Owner: "a"},
		{RequestID: "early", Sent: now, Seen: now, Owner: "b"},
		{RequestID: "rollback", Sent: now.Add(5 * time.Second), First: true, Seen: now, Owner: "a"},
	} {
		if err := l.Join(ctx, "shop", "prod", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Join(ctx, "api", "prod", records.Place{RequestID: "elsewhere", Sent: now, Seen: now}); err != nil {
		t.Fatal(err)
	}
	line, err := l.Read(ctx, "shop", "prod")
	if err != nil || len(line) != 3 || line[0].RequestID != "rollback" || line[1].RequestID != "early" || line[2].RequestID != "late" ||
		!line[1].Sent.Equal(now) || line[1].Owner != "b" {
		t.Fatalf("line: %+v %v", line, err)
	}
	if err := l.Leave(ctx, "shop", "prod", "rollback"); err != nil {
		t.Fatal(err)
	}
	if line, _ := l.Read(ctx, "shop", "prod"); len(line) != 2 || line[0].RequestID != "early" {
		t.Fatalf("after Leave: %+v", line)
	}
	if line, _ := l.Read(ctx, "nobody", "prod"); len(line) != 0 {
		t.Fatalf("empty line: %+v", line)
	}
}
