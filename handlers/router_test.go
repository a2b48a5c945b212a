package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/rs/zerolog"
)

type hidings struct {
	mu  sync.Mutex
	ids []string
}

func (h *hidings) Set(_ context.Context, msg *message.Message, d time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids = append(h.ids, fmt.Sprintf("%s:%v", msg.UUID, d))
	return nil
}

func (h *hidings) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

// TestRouterRunsEachConsumerUnderItsOwnMiddleware runs two consumers on
// watermill's in-memory pub/sub: each one's rejected message goes to its own
// dead-letter topic with the reason, a passing failure is retried, a
// message without a correlation ID gets its own ID, and a slow message is
// kept hidden while it is handled.
func TestRouterRunsEachConsumerUnderItsOwnMiddleware(t *testing.T) {
	ps := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{})
	t.Cleanup(func() { _ = ps.Close() })
	var slackTries atomic.Int32
	hidden := &hidings{}
	handled := make(chan string, 10)
	cfg := RouterConfig{Log: zerolog.Nop(), CloseTimeout: 5 * time.Second, Consumers: []Consumer{
		{Name: "slack", Subscriber: ps, QueueURL: "slack", DeadLetter: ps, DeadLetterURL: "slack-dlq", Retries: 2,
			Visibility: hidden, VisibilityTimeout: 150 * time.Millisecond,
			Handler: func(msg *message.Message) error {
				switch msg.UUID {
				case "bad":
					return fmt.Errorf("%w: body is not a deploy event", ErrRejected)
				case "flaky":
					if slackTries.Add(1) == 1 {
						return errors.New("slack answered 503")
					}
				case "slow":
					time.Sleep(400 * time.Millisecond)
				}
				handled <- "slack/" + msg.UUID
				return nil
			}},
		{Name: "artifactdb", Subscriber: ps, QueueURL: "artifactdb", DeadLetter: ps, DeadLetterURL: "artifactdb-dlq",
			Handler: func(msg *message.Message) error {
				if msg.UUID == "bad" {
					return fmt.Errorf("%w: event names no ArtifactDB project", ErrRejected)
				}
				handled <- "artifactdb/" + msg.UUID + "/" + msg.Metadata.Get(MetaCorrelationID)
				return nil
			}},
	}}
	r, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = r.Close()
		<-done
	})
	<-r.Running()
	dead := map[string]<-chan *message.Message{}
	for _, topic := range []string{"slack-dlq", "artifactdb-dlq"} {
		ch, err := ps.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		dead[topic] = ch
	}
	for _, m := range []struct{ topic, id string }{{"slack", "bad"}, {"slack", "flaky"}, {"slack", "slow"}, {"artifactdb", "bad"}, {"artifactdb", "good"}} {
		if err := ps.Publish(m.topic, message.NewMessage(m.id, []byte("{}"))); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{"slack/flaky": true, "slack/slow": true, "artifactdb/good/good": true}
	for len(want) > 0 {
		select {
		case h := <-handled:
			if !want[h] {
				t.Fatalf("handled %s, want one of %v", h, want)
			}
			delete(want, h)
		case <-time.After(10 * time.Second):
			t.Fatalf("not handled: %v", want)
		}
	}
	for topic, reason := range map[string]string{"slack-dlq": "body is not a deploy event", "artifactdb-dlq": "names no ArtifactDB project"} {
		select {
		case m := <-dead[topic]:
			m.Ack()
			if m.UUID != "bad" || !strings.Contains(m.Metadata.Get("reason_poisoned"), reason) {
				t.Fatalf("%s got %s with reason %q", topic, m.UUID, m.Metadata.Get("reason_poisoned"))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing on %s", topic)
		}
	}
	if n := slackTries.Load(); n != 2 {
		t.Fatalf("the flaky message was tried %d times, want 2", n)
	}
	if n := hidden.count(); n < 2 {
		t.Fatalf("the slow message's visibility was renewed %d times during 400ms at a 150ms timeout", n)
	}
}

func TestRouterConfigNamesEachProblem(t *testing.T) {
	err := RouterConfig{Consumers: []Consumer{{Name: "a"}, {Name: "a", QueueURL: "q"}}}.Validate()
	for _, want := range []string{"Consumers[0] (a) needs a Subscriber", "Consumers[1].Name \"a\" is used twice", "Consumers[1].Handler (a) is nil", "DeadLetter publisher"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if err := (RouterConfig{}).Validate(); err == nil {
		t.Error("a router of no consumers was accepted")
	}
}
