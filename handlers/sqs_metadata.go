package handlers

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Metadata keys the SQS unmarshaler fills from the message's system
// attributes, for the handler to read. A sender's message attributes under
// the daemon's own names (OwnAttribute) are dropped on receipt, so these
// always come from SQS.
const (
	MetaReceiptHandle = "sqs_receipt_handle"
	MetaMessageID     = "sqs_message_id"
	MetaSenderID      = "sqs_sender_id"
	MetaSentTimestamp = "sqs_sent_timestamp"
	// MetaReceivedAt is when this daemon received the message, in Unix
	// milliseconds: the start of SQS's 12 hours of invisibility.
	MetaReceivedAt = "sqs_received_at"
	// MetaCorrelationID is the sender's correlation_id attribute, or the
	// message ID: the same across redeliveries of one message.
	MetaCorrelationID  = "correlation_id"
	metaRejectedReason = "reason_rejected"
)

// OwnAttribute says whether a message attribute name is one the daemon
// sets itself; a sender's attribute of that name is dropped on receipt.
func OwnAttribute(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "sqs_") || strings.HasPrefix(n, "_watermill") || strings.HasPrefix(n, "original_") ||
		strings.HasSuffix(n, "_poisoned") || strings.HasPrefix(n, "reason_") || n == "sender_attributes"
}

// SentAt is when the message was sent, if SQS said.
func SentAt(msg *message.Message) (time.Time, bool) { return millis(msg, MetaSentTimestamp) }

// ReceivedAt is when this daemon received the message.
func ReceivedAt(msg *message.Message) (time.Time, bool) { return millis(msg, MetaReceivedAt) }

func millis(msg *message.Message, key string) (time.Time, bool) {
	ms, err := strconv.ParseInt(msg.Metadata.Get(key), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

type detachKey struct{}

// WithDetach returns a message context carrying detach: the subscriber's
// way to take a new message while the handler keeps this one in flight,
// waiting for a lock.
func WithDetach(ctx context.Context, detach func()) context.Context {
	return context.WithValue(ctx, detachKey{}, detach)
}

// detach lets the subscriber take another message, if it can.
func detach(ctx context.Context) bool {
	fn, ok := ctx.Value(detachKey{}).(func())
	if ok {
		fn()
	}
	return ok
}
