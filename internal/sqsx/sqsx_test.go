package sqsx

import (
	"strings"
	"testing"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/handlers"
)

func attr(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// TestUnmarshalDropsSpoofedAttributes: a sender's attributes under the
// daemon's own names never reach the handler; SQS's own values do.
func TestUnmarshalDropsSpoofedAttributes(t *testing.T) {
	m := &sqstypes.Message{MessageId: aws.String("m-1"), ReceiptHandle: aws.String("rh"), Body: aws.String("{}"),
		Attributes: map[string]string{"SenderId": "AROAREAL:ci", "SentTimestamp": "1000"},
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"sqs_sender_id": attr("AROAADMIN:x"), "SQS_Sent_Timestamp": attr("1"), wsqs.UUIDAttribute: attr("chosen-id"),
			"reason_poisoned": attr("x"), "team": attr("payments"),
		}}
	msg, err := Unmarshaler{Now: func() time.Time { return time.UnixMilli(5000) }}.Unmarshal(m)
	if err != nil {
		t.Fatal(err)
	}
	md := msg.Metadata
	if msg.UUID != "m-1" || md.Get(handlers.MetaSenderID) != "AROAREAL:ci" || md.Get(handlers.MetaSentTimestamp) != "1000" ||
		md.Get(handlers.MetaReceivedAt) != "5000" || md.Get("SQS_Sent_Timestamp") != "" || md.Get("reason_poisoned") != "" ||
		md.Get("team") != "payments" || md.Get(handlers.MetaCorrelationID) != "m-1" {
		t.Fatalf("uuid %s, metadata %v", msg.UUID, md)
	}
}

// TestDeadLetterFitsSQS: ten sender attributes and the daemon's metadata
// make a dead letter of at most ten attributes, reason first.
func TestDeadLetterFitsSQS(t *testing.T) {
	m := &sqstypes.Message{MessageId: aws.String("m-1"), ReceiptHandle: aws.String("rh"), Body: aws.String("bad"),
		Attributes: map[string]string{"SenderId": "AROAREAL:ci", "SentTimestamp": "1000"}, MessageAttributes: map[string]sqstypes.MessageAttributeValue{}}
	for i := range 9 {
		m.MessageAttributes[string(rune('a'+i))] = attr("v")
	}
	m.MessageAttributes["correlation_id"] = attr("c-1")
	msg, _ := Unmarshaler{}.Unmarshal(m)
	for _, k := range []string{"reason_poisoned", "topic_poisoned", "handler_poisoned", "subscriber_poisoned", "reason_rejected"} {
		msg.Metadata.Set(k, "refused: "+k)
	}
	out, err := DeadLetterMarshaler{}.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	a := out.MessageAttributes
	if len(a) > MaxAttributes || aws.ToString(a[AttrReason].StringValue) != "refused: reason_poisoned" ||
		aws.ToString(a["correlation_id"].StringValue) != "c-1" || !strings.Contains(aws.ToString(a[AttrSenderAttributes].StringValue), `"i":"v"`) {
		t.Fatalf("%d attributes: %v", len(a), a)
	}
}
