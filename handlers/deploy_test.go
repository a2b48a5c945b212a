package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	grace := 2*h.VisibilityTimeout + h.Lease
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
	if v := w.look(interrupted, true, now.Add(grace+time.Second)); !v.free {
		t.Fatalf("an interrupted deploy whose request did not come back: %+v", v)
	}
	// Released as dead long after its last status (by its own request's
	// daemon, which died in turn): it still gets its time to come back.
	releasedLate := pipeline.LockItem{Released: true, ReleasedAt: now.Add(grace), Data: status("other", pipeline.StateRunning, now)}
	if v := w.look(releasedLate, true, now.Add(grace+time.Second)); v.free || !strings.Contains(v.why, "goes first when its request comes back") {
		t.Fatalf("a deploy released as dead a moment ago, its status old: %+v", v)
	}
	if v := w.look(releasedLate, true, now.Add(2*grace+time.Second)); !v.free {
		t.Fatalf("a deploy released as dead whose request did not come back: %+v", v)
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

// noLock is a lock table holding no lock.
type noLock struct{}

func (noLock) Peek(context.Context, string) (pipeline.LockItem, bool, error) {
	return pipeline.LockItem{}, false, nil
}

func (noLock) ReleaseDead(context.Context, string, string, bool) (bool, error) { return false, nil }

// deadLock is a lock table whose one lock's holder stopped renewing it.
type deadLock struct {
	item pipeline.LockItem
	// releases says whether ReleaseDead releases it.
	releases bool

	mu       sync.Mutex
	released []string
}

func (d *deadLock) Peek(context.Context, string) (pipeline.LockItem, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.item, true, nil
}

func (d *deadLock) ReleaseDead(_ context.Context, key, version string, _ bool) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.released = append(d.released, key+"@"+version)
	if !d.releases || version != d.item.RecordVersion {
		return false, nil
	}
	d.item.Released = true
	return true, nil
}

// TestDeadHolderReleasedOnce: a request whose own deploy's holder died
// releases the lock at the version it saw unchanged for a lease, as soon
// as the lease has passed, then goes; the pipeline then takes the lock at
// once. If the release does not take (the holder renewed it after all),
// it waits on.
func TestDeadHolderReleasedOnce(t *testing.T) {
	for _, releases := range []bool{true, false} {
		t.Run(map[bool]string{true: "released", false: "renewed"}[releases], func(t *testing.T) {
			h, _, _ := newHandler()
			h.Lease, h.Poll, h.OrderWindow = 300*time.Millisecond, 4*time.Second, time.Millisecond
			data, _ := json.Marshal(pipeline.Status{DeployID: "r-1", App: "shop", Env: "prod", State: pipeline.StateRunning, Step: 7})
			locks := &deadLock{item: pipeline.LockItem{Owner: "dead", RecordVersion: "v7", Data: data}, releases: releases}
			h.Locks, h.Line = locks, &memLine{places: map[string]records.Place{}}
			h.init()
			sent := time.Now()
			w := h.newWaiter(&incoming{ctx: t.Context(), msg: msg(good), sent: sent, received: sent},
				&job{req: events.Request{RequestID: "r-1", App: "shop", Env: "prod"}})
			done := make(chan error, 1)
			go func() { done <- w.waitTurn() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(3 * time.Second):
				h.Stop()
				err = <-done
			}
			locks.mu.Lock()
			defer locks.mu.Unlock()
			if releases {
				if err != nil || len(locks.released) != 1 || locks.released[0] != "shop-prod@v7" {
					t.Fatalf("waitTurn: %v; releases: %v; want one, at v7", err, locks.released)
				}
				if waited := time.Since(sent); waited < h.Lease || waited > h.Poll/2 {
					t.Fatalf("released after %v; want just after a lease (%v), not at a later look (every %v)", waited, h.Lease, h.Poll)
				}
				return
			}
			if !errors.Is(err, errStopping) || len(locks.released) == 0 {
				t.Fatalf("waitTurn: %v after %d releases that did not take; want it still waiting", err, len(locks.released))
			}
		})
	}
}

// TestOrderWindowEndsOnTime: a request alone in its line, with the lock
// free, may go as soon as its order window has passed since it was sent,
// not at the next look a Poll later.
func TestOrderWindowEndsOnTime(t *testing.T) {
	h, _, _ := newHandler()
	h.OrderWindow, h.Poll = 300*time.Millisecond, 5*time.Second
	h.Locks, h.Line = noLock{}, &memLine{places: map[string]records.Place{}}
	h.init()
	sent := time.Now()
	w := h.newWaiter(&incoming{ctx: t.Context(), msg: msg(good), sent: sent, received: sent},
		&job{req: events.Request{RequestID: "r-1", App: "shop", Env: "prod"}})
	if err := w.waitTurn(); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(sent); waited < h.OrderWindow || waited > 2*time.Second {
		t.Fatalf("went %v after it was sent, want just after the %v order window", waited, h.OrderWindow)
	}
}

// stillVisible is a Visibility that does nothing.
type stillVisible struct{}

func (stillVisible) Set(context.Context, *message.Message, time.Duration) error { return nil }

// TestCopyWaitingWhileRequestEnded: a copy of a request (the send retried)
// waits in line while the first copy runs the request to its end; when
// its turn comes it answers with the recorded final event instead of
// running the deploy again.
func TestCopyWaitingWhileRequestEnded(t *testing.T) {
	h, sink, recs := newHandler()
	h.Locks, h.Line, h.Visibility, h.OrderWindow = noLock{}, &memLine{places: map[string]records.Place{}}, stillVisible{}, time.Millisecond
	h.init()
	req := events.Request{RequestID: "r-1", App: "shop", Env: "prod", Build: 2}
	final := events.Event{Type: events.DeploySucceeded, DeployID: "r-1", EventID: "e-1"}
	recs.recs["r-1"] = records.Record{RequestID: "r-1", Hash: req.Hash(), State: string(events.DeploySucceeded), Final: &final}
	now := time.Now()
	in := &incoming{ctx: t.Context(), msg: msg(good), sent: now, received: now}
	stale := records.Record{RequestID: "r-1", Hash: req.Hash(), State: records.StateQueued}
	out := h.run(in, &job{req: req, rec: stale, cfg: &pipeline.DeployConfig{}})
	if out.again == nil || out.again.Final.EventID != "e-1" {
		t.Fatalf("outcome %+v, want the recorded final event told again", out)
	}
	if err := h.answer(in, out); err != nil {
		t.Fatal(err)
	}
	if got := sink.Events(); len(got) != 1 || got[0].EventID != "e-1" {
		t.Fatalf("published %+v, want e-1 again", got)
	}
}

// finishingRecords is a Records whose request "ahead-1" finishes right
// after it is first read as waiting.
type finishingRecords struct {
	memRecords
	reads int
}

func (f *finishingRecords) Get(ctx context.Context, id string) (records.Record, bool, error) {
	if id != "ahead-1" {
		return f.memRecords.Get(ctx, id)
	}
	f.mu.Lock()
	f.reads++
	n := f.reads
	f.mu.Unlock()
	if n == 1 {
		return records.Record{RequestID: id, State: records.StateQueued}, true, nil
	}
	return records.Record{RequestID: id, State: string(events.DeploySucceeded), Final: &events.Event{Type: events.DeploySucceeded}}, true, nil
}

// TestPlaceAheadFinishingMeanwhile: a request ahead in the line that
// finishes while the waiter looks at the line (torture found it: the
// waiter read its record twice and panicked when the second read said
// finished) is waited for once, then passed.
func TestPlaceAheadFinishingMeanwhile(t *testing.T) {
	h, _, _ := newHandler()
	recs := &finishingRecords{memRecords: memRecords{recs: map[string]records.Record{}}}
	line := &memLine{places: map[string]records.Place{}}
	h.Records, h.Line, h.Locks, h.Poll, h.OrderWindow = recs, line, noLock{}, 50*time.Millisecond, time.Millisecond
	h.init()
	now := time.Now()
	line.places["ahead-1"] = records.Place{RequestID: "ahead-1", Sent: now.Add(-time.Minute), Seen: now}
	w := h.newWaiter(&incoming{ctx: t.Context(), msg: msg(good), sent: now, received: now},
		&job{req: events.Request{RequestID: "r-1", App: "shop", Env: "prod"}, rec: records.Record{RequestID: "r-1"}})
	if err := w.waitTurn(); err != nil {
		t.Fatal(err)
	}
	if recs.reads < 2 {
		t.Fatalf("the record of the request ahead was read %d times: the waiter never waited for it", recs.reads)
	}
}

// TestLateCopyOfRolledBackDeploy: a copy of a deploy request that a later
// rollback undid, with no final record (its daemon died before writing
// it), is answered as rolled back, though the status the pipeline answers
// from is the rollback's, which succeeded.
func TestLateCopyOfRolledBackDeploy(t *testing.T) {
	h, _, _ := newHandler()
	now := time.Now()
	in := &incoming{ctx: t.Context(), msg: msg(good), sent: now, received: now}
	j := &job{req: events.Request{RequestID: "d-1", App: "shop", Env: "prod", Build: 2}}
	rollback := pipeline.Status{DeployID: "r-1", App: "shop", Env: "prod", Mode: pipeline.ModeRollback, State: pipeline.StateSucceeded, Closes: "d-1"}
	answer := fmt.Errorf("%w: deploy d-1 was rolled back by r-1", pipeline.ErrRolledBack)
	out := h.endedBefore(in, j, rollback, answer)
	if out.final == nil || out.final.Type != events.DeployRolledBack || !strings.Contains(out.final.Error, "rolled back by r-1") {
		t.Fatalf("outcome %+v, want deploy.rolled_back naming r-1", out.final)
	}
}
