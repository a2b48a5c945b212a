package handlers

import (
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Metadata keys the SQS unmarshaler fills from the message's system
// attributes, for the handler to read.
const (
	MetaReceiptHandle  = "sqs_receipt_handle"
	MetaSenderID       = "sqs_sender_id"
	MetaSentTimestamp  = "sqs_sent_timestamp"
	MetaCorrelationID  = "correlation_id"
	metaRejectedReason = "reason_rejected"
)

// SentAt is when the message was sent, if SQS said.
func SentAt(msg *message.Message) (time.Time, bool) {
	ms, err := strconv.ParseInt(msg.Metadata.Get(MetaSentTimestamp), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}
