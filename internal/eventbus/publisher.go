package eventbus

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"ecs-deploy/events"
)

// SNSAPI is what the publisher calls of SNS.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ SNSAPI = (*sns.Client)(nil)

// Publisher publishes events to one SNS topic, as JSON with the event's
// attributes (at most five, so raw deliveries are never dropped).
type Publisher struct {
	SNS      SNSAPI
	TopicArn string
}

// progressAttempts bounds the tries of a progress event (not final): the
// SDK's default.
const progressAttempts = 3

// Publish sends e. It addresses the topic with TopicArn, which both SNS and
// goaws honour.
func (p Publisher) Publish(ctx context.Context, e events.Event) error {
	if e.Schema == "" {
		e.Schema = events.EventSchema
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	attrs := map[string]snstypes.MessageAttributeValue{}
	for k, v := range e.Attributes() {
		if v != "" {
			attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	var opts []func(*sns.Options)
	if !e.Type.Final() {
		// Progress is best effort: a deploy does not wait out an SNS
		// outage at every step with the many tries a final event gets.
		opts = append(opts, func(o *sns.Options) { o.RetryMaxAttempts = min(o.RetryMaxAttempts, progressAttempts) })
	}
	if _, err := p.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(p.TopicArn), Message: aws.String(string(body)), MessageAttributes: attrs}, opts...); err != nil {
		return fmt.Errorf("publish %s for deploy %s: %w", e.Type, e.DeployID, err)
	}
	return nil
}
