package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// memRecords is an in-memory Records for unit tests of the handler; the
// DynamoDB store has its own tests.
type memRecords struct {
	mu   sync.Mutex
	recs map[string]records.Record
}

func (m *memRecords) Get(_ context.Context, id string) (records.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	return r, ok, nil
}

func (m *memRecords) Begin(_ context.Context, r records.Record) (records.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.recs[r.RequestID]; ok {
		return old, false, nil
	}
	r.State = "running"
	m.recs[r.RequestID] = r
	return r, true, nil
}

func (m *memRecords) Finish(_ context.Context, id string, final events.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	r.RequestID, r.State, r.Final = id, string(final.Type), &final
	m.recs[id] = r
	return nil
}

type denyAll struct{}

func (denyAll) Allow(sender, requestedBy, app, env string) error {
	return errors.New("nobody may deploy")
}

func newHandler() (*Deploy, *pipeline.MemorySink, *memRecords) {
	sink := &pipeline.MemorySink{}
	recs := &memRecords{recs: map[string]records.Record{}}
	return &Deploy{Records: recs, Events: sink,
		Configs: func(context.Context, events.Request) (*pipeline.DeployConfig, string, error) {
			return nil, "", errors.New("no config needed for these tests")
		}}, sink, recs
}

func msg(body string) *message.Message {
	m := message.NewMessage("m-1", []byte(body))
	m.Metadata.Set(MetaCorrelationID, "corr-1")
	return m
}

const good = `{"schema":"ecs-deploy.request/v1","request_id":"r-1","app":"shop","env":"prod","build":2,"requested_by":"ci"}`

func TestRejectsUndecodableRequest(t *testing.T) {
	h, sink, _ := newHandler()
	m := msg(`{"request_id":"r-9","app":"shop","colour":"red"}`)
	err := h.Handle(m)
	if !Rejected(err) || Retryable(err) {
		t.Fatalf("err = %v, want a rejection", err)
	}
	es := sink.Events()
	if len(es) != 1 || es[0].Type != events.DeployRejected || es[0].DeployID != "r-9" || es[0].App != "shop" ||
		es[0].CorrelationID != "corr-1" || !strings.Contains(es[0].Error, `unknown field "colour"`) {
		t.Fatalf("events: %+v", es)
	}
	if m.Metadata.Get(metaRejectedReason) == "" {
		t.Fatal("the dead letter carries no reason")
	}
}

func TestRejectsDeniedSender(t *testing.T) {
	h, sink, recs := newHandler()
	h.Policy = denyAll{}
	if err := h.Handle(msg(good)); !Rejected(err) {
		t.Fatalf("err = %v", err)
	}
	if es := sink.Events(); len(es) != 1 || !strings.Contains(es[0].Error, "nobody may deploy") {
		t.Fatalf("events: %+v", es)
	}
	if len(recs.recs) != 0 {
		t.Fatal("a rejected request was recorded")
	}
}

func TestDuplicateOfFinishedRequestIsAnsweredAgain(t *testing.T) {
	h, sink, recs := newHandler()
	final := events.Event{Type: events.DeploySucceeded, DeployID: "r-1", App: "shop", Env: "prod", Message: "build 2 serves prod"}
	recs.recs["r-1"] = records.Record{RequestID: "r-1", State: string(final.Type), Final: &final}
	if err := h.Handle(msg(good)); err != nil {
		t.Fatal(err)
	}
	if es := sink.Events(); len(es) != 1 || es[0] != final {
		t.Fatalf("events: %+v", es)
	}
}

func TestPassingFailuresAreRetried(t *testing.T) {
	h, _, _ := newHandler()
	err := h.Handle(msg(good))
	if err == nil || Rejected(err) || !Retryable(err) {
		t.Fatalf("a config source failure: %v, want a retryable error", err)
	}
}
