package eventbus_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"ecs-deploy/events"
	"ecs-deploy/internal/eventbus"
)

// attemptsSNS records the tries each publish would get from a client set
// to ten.
type attemptsSNS struct{ attempts []int }

func (a *attemptsSNS) Publish(_ context.Context, _ *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error) {
	o := sns.Options{RetryMaxAttempts: 10}
	for _, opt := range opts {
		opt(&o)
	}
	a.attempts = append(a.attempts, o.RetryMaxAttempts)
	return &sns.PublishOutput{}, nil
}

// TestProgressIsBestEffort: a progress event gets the SDK's three tries, so
// an SNS outage does not hold every step up; a final event keeps the
// client's many.
func TestProgressIsBestEffort(t *testing.T) {
	api := &attemptsSNS{}
	p := eventbus.Publisher{SNS: api, TopicArn: "arn:aws:sns:us-east-1:123456789012:deploy-events"}
	for _, typ := range []events.Type{events.StepStarted, events.DeploySucceeded} {
		if err := p.Publish(t.Context(), events.Event{Type: typ, DeployID: "d-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.attempts) != 2 || api.attempts[0] != 3 || api.attempts[1] != 10 {
		t.Fatalf("tries: %v, want 3 for step.started and 10 for deploy.succeeded", api.attempts)
	}
}
