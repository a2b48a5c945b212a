package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sqsIdentity makes goaws answer as SQS does where the tests need it: each
// message's SenderId is the principal whose access key sent it (goaws gives
// its own account ID for all), and its SentTimestamp is when it was sent
// (goaws gives the time of receipt). It also refuses, as SQS does, a
// message with more than ten attributes, which goaws takes.
type sqsIdentity struct {
	// principals maps access key IDs to the SenderId SQS reports for them.
	principals map[string]string

	mu   sync.Mutex
	sent map[string]sentBy // by message ID
	// requestQueue is the request queue's name: a message received from it
	// was sent through a proxy, whose answer may come a moment after the
	// receiver's; its sender is waited for.
	requestQueue string
}

type sentBy struct {
	sender string
	at     time.Time
}

// The principals of the tests: the access key everything uses by default
// is the CI role's, in a session named "e2e".
const (
	ciRole      = "AROAE2ECIROLE00000001"
	malloryRole = "AROAE2EMALLORY0000001"
	malloryKey  = "AKIDMALLORY"
)

func newSQSIdentity() *sqsIdentity {
	return &sqsIdentity{sent: map[string]sentBy{}, principals: map[string]string{
		"AKIDEXAMPLE": ciRole + ":e2e",
		// Mallory names her session after the CI role.
		malloryKey: malloryRole + ":" + ciRole,
	}}
}

var credentialPattern = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (s *sqsIdentity) senderOf(r *http.Request) string {
	if m := credentialPattern.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		if p, ok := s.principals[m[1]]; ok {
			return p
		}
	}
	return "100010001000"
}

func (s *sqsIdentity) Request(op string, r *http.Request, body []byte) (int, []byte, bool) {
	if op != "SendMessage" {
		return 0, nil, false
	}
	var in struct{ MessageAttributes map[string]any }
	_ = json.Unmarshal(body, &in)
	if n := len(in.MessageAttributes); n > 10 {
		return http.StatusBadRequest, fmt.Appendf(nil, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"Number of message attributes [%d] exceeds the allowed maximum [10]."}`, n), true
	}
	return 0, nil, false
}

func (s *sqsIdentity) Answer(op string, r *http.Request, body []byte, status int, answer []byte) []byte {
	if status != http.StatusOK {
		return answer
	}
	switch op {
	case "SendMessage":
		var out struct{ MessageId string }
		if json.Unmarshal(answer, &out) == nil && out.MessageId != "" {
			s.mu.Lock()
			s.sent[out.MessageId] = sentBy{sender: s.senderOf(r), at: time.Now()}
			s.mu.Unlock()
		}
	case "ReceiveMessage":
		var in struct{ QueueUrl string }
		_ = json.Unmarshal(body, &in)
		wait := s.requestQueue != "" && strings.HasSuffix(in.QueueUrl, "/"+s.requestQueue)
		dec := json.NewDecoder(bytes.NewReader(answer))
		dec.UseNumber()
		var out map[string]any
		if dec.Decode(&out) != nil {
			return answer
		}
		msgs, _ := out["Messages"].([]any)
		for _, m := range msgs {
			msg, _ := m.(map[string]any)
			id, _ := msg["MessageId"].(string)
			by, ok := s.sender(id, wait)
			attrs, _ := msg["Attributes"].(map[string]any)
			if !ok || attrs == nil {
				continue
			}
			attrs["SenderId"] = by.sender
			attrs["SentTimestamp"] = strconv.FormatInt(by.at.UnixMilli(), 10)
		}
		if b, err := json.Marshal(out); err == nil {
			return b
		}
	}
	return answer
}

// sender returns who sent a message and when; with wait, it waits a moment
// for the send's answer to pass the proxy.
func (s *sqsIdentity) sender(id string, wait bool) (sentBy, bool) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		s.mu.Lock()
		by, ok := s.sent[id]
		s.mu.Unlock()
		if ok || !wait || time.Now().After(deadline) {
			return by, ok
		}
		time.Sleep(10 * time.Millisecond)
	}
}
