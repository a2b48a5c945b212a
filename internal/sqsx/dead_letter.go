package sqsx

import (
	"context"
	"encoding/json"
	"strings"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/handlers"
)

// MaxAttributes is how many message attributes SQS takes on one message
// ("Number of message attributes [N] exceeds the allowed maximum [10].").
const MaxAttributes = 10

// Dead-letter attributes. The body is the request as it came.
const (
	// AttrReason says why the request was refused (set by watermill's
	// poison queue middleware).
	AttrReason = "reason_poisoned"
	// AttrSenderAttributes holds the sender's own message attributes as a
	// JSON object of name to value, so none is lost and the dead letter
	// stays within MaxAttributes.
	AttrSenderAttributes = "sender_attributes"
)

// DeadLetterMarshaler writes a refused request to the dead-letter queue
// with at most six attributes: the reason, the correlation ID, the original
// message's ID, SenderId and SentTimestamp, and the sender's own attributes
// folded into one. Watermill's other poison metadata (topic, handler,
// subscriber) and the daemon's receipt-time metadata are left out.
type DeadLetterMarshaler struct{}

func (DeadLetterMarshaler) Marshal(msg *message.Message) (*sqstypes.Message, error) {
	attrs := map[string]sqstypes.MessageAttributeValue{}
	add := func(name, v string) {
		if v != "" && len(attrs) < MaxAttributes {
			attrs[name] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	md := msg.Metadata
	add(AttrReason, md.Get(AttrReason))
	add(handlers.MetaCorrelationID, md.Get(handlers.MetaCorrelationID))
	add("original_message_id", md.Get(handlers.MetaMessageID))
	add("original_sender_id", md.Get(handlers.MetaSenderID))
	add("original_sent_timestamp", md.Get(handlers.MetaSentTimestamp))
	extras := map[string]string{}
	for k, v := range md {
		if !handlers.OwnAttribute(k) && k != handlers.MetaCorrelationID {
			extras[k] = v
		}
	}
	if len(extras) > 0 {
		b, _ := json.Marshal(extras)
		add(AttrSenderAttributes, string(b))
	}
	return &sqstypes.Message{MessageAttributes: attrs, Body: aws.String(string(msg.Payload))}, nil
}

// SendInput is watermill-aws's send input plus, for a FIFO queue, a message
// group and a deduplication ID (the original message's ID), which FIFO
// queues need.
func SendInput(ctx context.Context, queueURL wsqs.QueueURL, msg *sqstypes.Message) (*sqs.SendMessageInput, error) {
	in, err := wsqs.GenerateSendMessageInputDefault(ctx, queueURL, msg)
	if err != nil || !strings.HasSuffix(string(queueURL), ".fifo") {
		return in, err
	}
	in.MessageGroupId = aws.String("dead-letters")
	if id, ok := msg.MessageAttributes["original_message_id"]; ok && id.StringValue != nil {
		in.MessageDeduplicationId = id.StringValue
	}
	return in, nil
}
