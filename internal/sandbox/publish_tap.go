package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"ecs-deploy/events"
)

// publishTap stands in front of goaws and shows each event published to
// SNS to a hook before goaws takes it. The daemon waits for Publish's
// answer, so the hook sees AWS as it was when the event was sent, before
// the deploy goes on: the story's timeline reads what serves then.
type publishTap struct {
	next http.Handler
	mu   sync.Mutex
	hook func(events.Event)
}

func (t *publishTap) setHook(fn func(events.Event)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hook = fn
}

func (t *publishTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	hook := t.hook
	t.mu.Unlock()
	if hook != nil && r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			if msg, ok := PublishedMessage(r.Header, body); ok {
				var e events.Event
				if json.Unmarshal([]byte(msg), &e) == nil && e.Type != "" {
					hook(e)
				}
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	t.next.ServeHTTP(w, r)
}

// PublishedMessage returns the message of an SNS Publish call, in the
// query protocol or in JSON; ok is false for any other call.
func PublishedMessage(h http.Header, body []byte) (string, bool) {
	if target := h.Get("X-Amz-Target"); target != "" {
		if !strings.HasSuffix(target, ".Publish") {
			return "", false
		}
		var in struct{ Message string }
		if json.Unmarshal(body, &in) != nil {
			return "", false
		}
		return in.Message, true
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Action") != "Publish" {
		return "", false
	}
	return form.Get("Message"), true
}
