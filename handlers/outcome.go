package handlers

import (
	"ecs-deploy/events"
	"ecs-deploy/internal/records"
)

// outcome is how a request's handling ended, for the answer stage.
type outcome struct {
	// kind labels the outcome in metrics: the final event's type,
	// "rejected", "duplicate", "planned", "interrupted" or "error".
	kind string
	// job is the claimed request, if it got that far.
	job *job
	// final is the request's final event, to publish and record.
	final *events.Event
	// reject is why the request is refused: deploy.rejected goes out and
	// the message goes to the dead-letter queue.
	reject error
	// again is the record of a finished request sent again: its final
	// event is published again.
	again *records.Record
	// left says the handler left the message as it must stay: released
	// for another daemon, or in flight to come back later.
	left bool
	// err is a passing failure: the message is retried.
	err error
	// stopHiding, when set, ends the renewals of the message's
	// invisibility: after answer has published and recorded the outcome,
	// so no copy is received before the record says how it ended.
	stopHiding func()
}

func rejected(err error) outcome { return outcome{kind: "rejected", reject: err} }

func failed(err error) outcome { return outcome{kind: "error", err: err} }

// outcomeOf is the outcome of a stage error of a claimed job: a request
// error (ErrRejected) rejects it, anything else is retried.
func (j *job) outcomeOf(err error) outcome {
	if Rejected(err) {
		return outcome{kind: "rejected", job: j, reject: err}
	}
	return outcome{kind: "error", job: j, err: err}
}
