package handlers

import (
	"encoding/json"
	"fmt"

	"ecs-deploy/events"
)

// DecodeEvent reads a deploy event from a message body: the event's JSON,
// as SNS delivers it to a queue with raw message delivery, or the SNS
// envelope around it when raw delivery is off. A body that is neither is
// an error wrapping ErrRejected, for the dead-letter queue.
func DecodeEvent(body []byte) (events.Event, error) {
	var envelope struct {
		Type    string
		Message *string
	}
	if err := json.Unmarshal(body, &envelope); err == nil && envelope.Type == "Notification" && envelope.Message != nil {
		body = []byte(*envelope.Message)
	}
	var e events.Event
	if err := json.Unmarshal(body, &e); err != nil {
		return events.Event{}, fmt.Errorf("%w: body is not a deploy event: %v", ErrRejected, err)
	}
	if e.Schema != events.EventSchema {
		return events.Event{}, fmt.Errorf("%w: event schema %q, want %q", ErrRejected, e.Schema, events.EventSchema)
	}
	if e.Type == "" || e.DeployID == "" {
		return events.Event{}, fmt.Errorf("%w: event without event_type or deploy_id", ErrRejected)
	}
	return e, nil
}
