package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"ecs-deploy/events"
)

type notified struct {
	events []events.Event
	err    error
}

func (n *notified) Notify(_ context.Context, e events.Event) error {
	n.events = append(n.events, e)
	return n.err
}

func TestSlackNotify(t *testing.T) {
	e := finalEvent(events.DeployFailed, "deploy", tEnd)
	e.Error = "step 7 (wait-stable): tasks stopped"
	raw, _ := json.Marshal(e)
	envelope, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "x", "Message": string(raw)})
	for name, body := range map[string][]byte{"raw delivery": raw, "SNS envelope": envelope} {
		t.Run(name, func(t *testing.T) {
			n := &notified{}
			msg := message.NewMessage("m-1", body)
			msg.SetContext(t.Context())
			if err := (SlackNotify{Notifier: n}).Handle(msg); err != nil {
				t.Fatal(err)
			}
			if len(n.events) != 1 || n.events[0].Error != e.Error || n.events[0].Type != events.DeployFailed || !n.events[0].Time.Equal(tEnd) {
				t.Fatalf("notified %+v", n.events)
			}
		})
	}
	t.Run("bad body is rejected", func(t *testing.T) {
		n := &notified{}
		if err := (SlackNotify{Notifier: n}).Handle(message.NewMessage("m-1", []byte(`{"schema":"ecs-deploy.event/v1"}`))); !Rejected(err) || len(n.events) != 0 {
			t.Fatalf("%v, %d notified", err, len(n.events))
		}
	})
	t.Run("a notifier error comes back for a retry", func(t *testing.T) {
		n := &notified{err: errors.New("slack is down")}
		msg := message.NewMessage("m-1", raw)
		if err := (SlackNotify{Notifier: n}).Handle(msg); err == nil || Rejected(err) {
			t.Fatalf("%v; want a retryable error", err)
		}
	})
}
