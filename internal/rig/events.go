package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/sandbox"
)

// Published is an event SNS took.
type Published struct {
	events.Event
	// At is when SNS answered the Publish call.
	At time.Time
}

// EventTap holds every event published through the SNS front, in the
// order SNS took them. It sees each publish, copies included: SNS
// delivers at least once, and a final event may be published again.
type EventTap struct {
	mu     sync.Mutex
	events []Published
	wake   chan struct{}
}

func newEventTap() *EventTap { return &EventTap{wake: make(chan struct{})} }

func (t *EventTap) add(p Published) {
	t.mu.Lock()
	t.events = append(t.events, p)
	close(t.wake)
	t.wake = make(chan struct{})
	t.mu.Unlock()
}

// All returns the events published so far.
func (t *EventTap) All() []Published {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Published(nil), t.events...)
}

// Since returns the events published from index i on, and the index to
// ask from next time.
func (t *EventTap) Since(i int) ([]Published, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i > len(t.events) {
		i = len(t.events)
	}
	return append([]Published(nil), t.events[i:]...), len(t.events)
}

// WaitFor returns the first event match accepts, waiting for it until ctx
// ends.
func (t *EventTap) WaitFor(ctx context.Context, what string, match func(Published) bool) (Published, error) {
	for {
		t.mu.Lock()
		for _, p := range t.events {
			if match(p) {
				t.mu.Unlock()
				return p, nil
			}
		}
		wake := t.wake
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Published{}, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// Is matches the events of one deploy of one type.
func Is(deployID string, typ events.Type) func(Published) bool {
	return func(p Published) bool { return p.DeployID == deployID && p.Type == typ }
}

// Final matches the final events of one deploy.
func Final(deployID string) func(Published) bool {
	return func(p Published) bool { return p.DeployID == deployID && p.Type.Final() }
}

// goawsFront is what stands between everyone and goaws: it taps SNS
// publishes and makes SQS report SentTimestamp as AWS does.
type goawsFront struct {
	tap *EventTap

	mu   sync.Mutex
	sent map[string]time.Time // send time by message ID
	// queues are the queues messages were sent to through the front;
	// others (SNS's subscriptions) get goaws's timestamps.
	queues map[string]bool
}

func (g *goawsFront) Request(string, *http.Request, []byte) (int, []byte, bool) { return 0, nil, false }

func (g *goawsFront) Answer(op string, r *http.Request, body []byte, status int, answer []byte) []byte {
	if status != http.StatusOK {
		return answer
	}
	switch op {
	case "Publish":
		if msg, ok := sandbox.PublishedMessage(r.Header, body); ok {
			var e events.Event
			if json.Unmarshal([]byte(msg), &e) == nil && e.Type != "" {
				g.tap.add(Published{Event: e, At: time.Now()})
			}
		}
	case "SendMessage":
		var in struct{ QueueUrl string }
		var out struct{ MessageId string }
		if json.Unmarshal(answer, &out) == nil && out.MessageId != "" {
			_ = json.Unmarshal(body, &in)
			g.mu.Lock()
			g.sent[out.MessageId] = time.Now()
			g.queues[in.QueueUrl] = true
			g.mu.Unlock()
		}
	case "ReceiveMessage":
		var in struct{ QueueUrl string }
		_ = json.Unmarshal(body, &in)
		g.mu.Lock()
		sentTo := g.queues[in.QueueUrl]
		g.mu.Unlock()
		if sentTo {
			return g.sentTimestamps(answer)
		}
	}
	return answer
}

// sentTimestamps sets each received message's SentTimestamp to when it
// was sent through the front. A receive may pass the front a moment
// before the answer of the send that put its message there: it waits for
// it, briefly.
func (g *goawsFront) sentTimestamps(answer []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	var out map[string]any
	if dec.Decode(&out) != nil {
		return answer
	}
	msgs, _ := out["Messages"].([]any)
	if len(msgs) == 0 {
		return answer
	}
	for _, m := range msgs {
		msg, _ := m.(map[string]any)
		id, _ := msg["MessageId"].(string)
		attrs, _ := msg["Attributes"].(map[string]any)
		if at, ok := g.sentAt(id); ok && attrs != nil {
			attrs["SentTimestamp"] = strconv.FormatInt(at.UnixMilli(), 10)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return answer
	}
	return b
}

func (g *goawsFront) sentAt(id string) (time.Time, bool) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		g.mu.Lock()
		at, ok := g.sent[id]
		g.mu.Unlock()
		if ok || time.Now().After(deadline) {
			return at, ok
		}
		time.Sleep(10 * time.Millisecond)
	}
}
