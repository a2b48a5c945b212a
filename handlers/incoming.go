package handlers

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"ecs-deploy/events"
)

// incoming is a received request message and what SQS says about it.
type incoming struct {
	msg       *message.Message
	ctx       context.Context
	messageID string
	// sender is the SQS SenderId: an IAM user's or role's unique ID, for a
	// role followed by ":" and the session name.
	sender        string
	correlationID string
	// sent is when SQS took the message; received when this daemon got it.
	sent, received time.Time
	// req is the request, once decoded (or what could be salvaged).
	req events.Request
}

func receive(msg *message.Message) *incoming {
	in := &incoming{msg: msg, messageID: msg.Metadata.Get(MetaMessageID), sender: msg.Metadata.Get(MetaSenderID),
		correlationID: msg.Metadata.Get(MetaCorrelationID)}
	if in.messageID == "" {
		in.messageID = msg.UUID
	}
	if in.correlationID == "" {
		in.correlationID = in.messageID
	}
	now := time.Now()
	var ok bool
	if in.received, ok = ReceivedAt(msg); !ok {
		in.received = now
	}
	if in.sent, ok = SentAt(msg); !ok || in.sent.After(in.received) {
		in.sent = in.received
	}
	log := zerolog.Ctx(msg.Context()).With().Str("correlation_id", in.correlationID).Logger()
	in.ctx = log.WithContext(msg.Context())
	return in
}

// describe puts the request's IDs in the context's logger.
func (in *incoming) describe(req events.Request) {
	in.req = req
	log := zerolog.Ctx(in.ctx).With().Str("deploy_id", req.RequestID).Str("app", req.App).Str("env", req.Env).Logger()
	in.ctx = log.WithContext(in.ctx)
}

// salvageIDs reads what it can of a request that failed to decode, so the
// rejection can be addressed to its sender.
func salvageIDs(body []byte, messageID string) events.Request {
	var loose struct {
		RequestID any `json:"request_id"`
		App       any `json:"app"`
		Env       any `json:"env"`
	}
	_ = json.Unmarshal(body, &loose)
	s := func(v any) string {
		if str, ok := v.(string); ok && events.ValidRequestID(str) {
			return str
		}
		return ""
	}
	r := events.Request{RequestID: s(loose.RequestID), App: s(loose.App), Env: s(loose.Env)}
	if r.RequestID == "" {
		r.RequestID = messageID
	}
	return r
}
