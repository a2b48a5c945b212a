package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// memRecords is an in-memory Records for unit tests of the handler's
// stages; the DynamoDB store has its own tests.
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

func (m *memRecords) Claim(_ context.Context, r records.Record) (records.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.recs[r.RequestID]; ok && !old.Rejected() {
		return old, false, nil
	}
	r.State = records.StateAccepted
	m.recs[r.RequestID] = r
	return r, true, nil
}

func (m *memRecords) Save(_ context.Context, r records.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[r.RequestID] = r
	return nil
}

func (m *memRecords) Reject(_ context.Context, r records.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.recs[r.RequestID]; ok && !old.Rejected() {
		old.Rejection, old.RejectedHash = r.Final, r.Hash
		m.recs[r.RequestID] = old
		return nil
	}
	r.State = string(events.DeployRejected)
	m.recs[r.RequestID] = r
	return nil
}

func (m *memRecords) Published(_ context.Context, id, eventID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	r.Unpublished = false
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
		Configs: func(context.Context, events.Request, time.Time) (*pipeline.DeployConfig, string, error) {
			return nil, "", errors.New("no config needed for these tests")
		}}, sink, recs
}

func msg(body string) *message.Message {
	m := message.NewMessage("m-1", []byte(body))
	m.Metadata.Set(MetaCorrelationID, "corr-1")
	m.Metadata.Set(MetaMessageID, "m-1")
	return m
}

const good = `{"schema":"ecs-deploy.request/v1","request_id":"r-1","app":"shop","env":"prod","build":2,"requested_by":"ci"}`

func TestRejectsUndecodableRequest(t *testing.T) {
	h, sink, recs := newHandler()
	m := msg(`{"request_id":"r-9","app":"shop","colour":"red"}`)
	err := h.Handle(m)
	if !Rejected(err) || Retryable(err) {
		t.Fatalf("err = %v, want a rejection", err)
	}
	es := sink.Events()
	if len(es) != 1 || es[0].Type != events.DeployRejected || es[0].DeployID != "r-9" || es[0].App != "shop" ||
		es[0].CorrelationID != "corr-1" || !strings.Contains(es[0].Error, `unknown field "colour"`) || es[0].EventID == "" {
		t.Fatalf("events: %+v", es)
	}
	if m.Metadata.Get(metaRejectedReason) == "" {
		t.Fatal("the dead letter carries no reason")
	}
	// The record says so, for enqueue -wait.
	if r := recs.recs["r-9"]; !r.Rejected() || r.Final == nil || r.Final.EventID != es[0].EventID {
		t.Fatalf("record: %+v", r)
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
	if r := recs.recs["r-1"]; !r.Rejected() {
		t.Fatalf("record: %+v", r)
	}
}

func TestDuplicateOfFinishedRequestIsAnsweredAgain(t *testing.T) {
	h, sink, recs := newHandler()
	req, _ := events.DecodeRequest([]byte(good), "")
	final := events.Event{Type: events.DeploySucceeded, DeployID: "r-1", App: "shop", Env: "prod", Message: "build 2 serves prod"}.WithID()
	recs.recs["r-1"] = records.Record{RequestID: "r-1", State: string(final.Type), Final: &final, Hash: req.Hash(), Unpublished: true}
	if err := h.Handle(msg(good)); err != nil {
		t.Fatal(err)
	}
	if es := sink.Events(); len(es) != 1 || es[0] != final {
		t.Fatalf("events: %+v", es)
	}
	if recs.recs["r-1"].Unpublished {
		t.Fatal("the final event, published again, is still unpublished")
	}
}

func TestRequestIDReusedIsRefused(t *testing.T) {
	h, sink, recs := newHandler()
	req, _ := events.DecodeRequest([]byte(good), "")
	sum := req.Summary()
	final := events.Event{Type: events.DeploySucceeded, DeployID: "r-1"}.WithID()
	recs.recs["r-1"] = records.Record{RequestID: "r-1", State: string(final.Type), Final: &final, Hash: req.Hash(), Request: &sum}
	err := h.Handle(msg(strings.Replace(good, `"build":2`, `"build":3`, 1)))
	if !Rejected(err) || !strings.Contains(err.Error(), "request_id r-1 was used for a different request (build 2, not 3)") {
		t.Fatalf("err = %v", err)
	}
	if es := sink.Events(); len(es) != 1 || es[0].Type != events.DeployRejected {
		t.Fatalf("events: %+v", es)
	}
	if r := recs.recs["r-1"]; r.Final.EventID != final.EventID || r.Rejection == nil {
		t.Fatalf("the first request's record changed: %+v", r)
	}
}

func TestPassingFailuresAreRetried(t *testing.T) {
	h, _, _ := newHandler()
	err := h.Handle(msg(good))
	if err == nil || Rejected(err) || !Retryable(err) {
		t.Fatalf("a config source failure: %v, want a retryable error", err)
	}
}

// TestLookAtLock: a holder whose record version changes is alive; one whose
// version stays the same for a lease is dead, and its own request may take
// over at once while others give it time to come back.
func TestLookAtLock(t *testing.T) {
	h := &Deploy{}
	h.init()
	status := func(id string, state pipeline.State, updated time.Time) []byte {
		b, _ := json.Marshal(pipeline.Status{DeployID: id, State: state, Step: 7, UpdatedAt: updated})
		return b
	}
	w := &waiter{h: h, j: &job{req: events.Request{RequestID: "mine", App: "shop", Env: "prod"}}}
	now := time.Now()
	held := pipeline.LockItem{RecordVersion: "v1", Data: status("other", pipeline.StateRunning, now)}
	if v := w.look(held, true, now); v.free || !strings.Contains(v.why, "held by deploy other") {
		t.Fatalf("a live holder: %+v", v)
	}
	held.RecordVersion = "v2"
	if v := w.look(held, true, now.Add(9*time.Second)); v.free {
		t.Fatalf("a holder that renewed: %+v", v)
	}
	if v := w.look(held, true, now.Add(20*time.Second)); v.free || !strings.Contains(v.why, "stopped renewing") {
		t.Fatalf("a dead holder of another deploy, just now: %+v", v)
	}
	if v := w.look(held, true, now.Add(9*time.Second+2*h.VisibilityTimeout+3*h.Lease)); !v.free {
		t.Fatalf("a holder dead for long: %+v", v)
	}
	mine := pipeline.LockItem{RecordVersion: "v1", Data: status("mine", pipeline.StateRunning, now)}
	w2 := &waiter{h: h, j: w.j}
	w2.look(mine, true, now)
	if v := w2.look(mine, true, now.Add(11*time.Second)); !v.free || !v.mine {
		t.Fatalf("my own deploy, its holder dead: %+v", v)
	}
	interrupted := pipeline.LockItem{Released: true, Data: status("other", pipeline.StateRunning, now)}
	if v := w.look(interrupted, true, now.Add(time.Second)); v.free {
		t.Fatalf("an interrupted deploy waiting for its resume: %+v", v)
	}
	failed := pipeline.LockItem{Released: true, Data: status("other", pipeline.StateFailed, now)}
	if v := w.look(failed, true, now); !v.free {
		t.Fatalf("a failed deploy: %+v", v)
	}
	if v := w.look(pipeline.LockItem{}, false, now); !v.free {
		t.Fatalf("no lock item: %+v", v)
	}
}

// memLine is an in-memory waiting line that, like some DynamoDB stand-ins,
// may not take a removal.
type memLine struct {
	places    map[string]records.Place
	keepLeft  bool
	leftCalls []string
}

func (l *memLine) Join(_ context.Context, _, _ string, p records.Place) error {
	l.places[p.RequestID] = p
	return nil
}

func (l *memLine) Leave(_ context.Context, _, _, id string) error {
	l.leftCalls = append(l.leftCalls, id)
	if !l.keepLeft {
		delete(l.places, id)
	}
	return nil
}

// Read returns the line first place first, as records.Line does.
func (l *memLine) Read(context.Context, string, string) ([]records.Place, error) {
	var out []records.Place
	for _, p := range l.places {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b records.Place) int {
		if a.Before(b) {
			return -1
		}
		return 1
	})
	return out, nil
}

// TestFinishedPlaceIsNotAhead: a place left in the line by a request that
// has finished (its daemon died before leaving, or the table did not take
// the removal) does not hold up the requests behind it, and is taken out.
func TestFinishedPlaceIsNotAhead(t *testing.T) {
	h, _, recs := newHandler()
	h.init()
	line := &memLine{places: map[string]records.Place{}, keepLeft: true}
	h.Line = line
	now := time.Now()
	done := records.Place{RequestID: "done-1", Sent: now.Add(-time.Minute), Seen: now}
	live := records.Place{RequestID: "live-1", Sent: now.Add(-30 * time.Second), Seen: now}
	line.places["done-1"], line.places["live-1"] = done, live
	recs.recs["done-1"] = records.Record{RequestID: "done-1", State: string(events.DeploySucceeded), Final: &events.Event{Type: events.DeploySucceeded}}
	recs.recs["live-1"] = records.Record{RequestID: "live-1", State: records.StateQueued}
	w := h.newWaiter(&incoming{ctx: t.Context(), sent: now}, &job{req: events.Request{RequestID: "me", App: "shop", Env: "prod"}})
	places, _ := line.Read(t.Context(), "shop", "prod")
	if p := w.ahead(places, now); p == nil || p.RequestID != "live-1" {
		t.Fatalf("ahead: %+v, want the live request", p)
	}
	if len(line.leftCalls) != 1 || line.leftCalls[0] != "done-1" {
		t.Fatalf("the finished place was not taken out: %v", line.leftCalls)
	}
	delete(line.places, "live-1")
	places, _ = line.Read(t.Context(), "shop", "prod")
	if p := w.ahead(places, now); p != nil {
		t.Fatalf("ahead: %+v, want nobody", p)
	}
}
