package handlers

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"

	"ecs-deploy/events"
)

// EventNotifier tells people about a deploy event; *slack.Notifier is one.
type EventNotifier interface {
	Notify(ctx context.Context, e events.Event) error
}

// SlackEvents are the event types the Slack notifier uses: the filter
// policy of the slack role's queue. deploy.accepted and step.started are
// left out: neither mode posts them.
var SlackEvents = []events.Type{events.DeployRejected, events.DeployQueued, events.DeployStarted, events.StepSucceeded,
	events.StepFailed, events.DeploySucceeded, events.DeployFailed, events.DeployRolledBack}

// SlackNotify is the watermill handler of the daemon's slack role: it
// decodes each event from the Slack queue and passes it to the notifier.
// A notifier error is returned, so the message comes back and is retried.
type SlackNotify struct {
	Notifier EventNotifier
}

// Handle handles one event message.
func (h SlackNotify) Handle(msg *message.Message) error {
	e, err := DecodeEvent(msg.Payload)
	if err != nil {
		return err
	}
	return h.Notifier.Notify(msg.Context(), e)
}
