package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// slackToken is the bot token the slack role runs with: it must never be
// logged.
const slackToken = "xoxb-e2e-4242-NEVERLOGTHISTOKEN"

// slackPost is one Web API call Slack received.
type slackPost struct {
	Method                string // chat.postMessage or chat.update
	Channel, TS, ThreadTS string
	Text, Blocks          string
	// ChannelAnswered is the channel ID Slack answered with.
	ChannelAnswered string
}

// slackAPI stands in for Slack's Web API: chat.postMessage and chat.update,
// as form posts carrying the token, answered as Slack does.
type slackAPI struct {
	*httptest.Server
	mu    sync.Mutex
	posts []slackPost
	ts    int
}

func newSlackAPI(t *testing.T) *slackAPI {
	t.Helper()
	s := &slackAPI{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *slackAPI) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok || (method != "chat.postMessage" && method != "chat.update") || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	authorized := form.Get("token") == slackToken || r.Header.Get("Authorization") == "Bearer "+slackToken
	w.Header().Set("Content-Type", "application/json")
	if !authorized {
		fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := slackPost{Method: method, Channel: form.Get("channel"), TS: form.Get("ts"), ThreadTS: form.Get("thread_ts"),
		Text: form.Get("text"), Blocks: form.Get("blocks")}
	if p.TS == "" {
		s.ts++
		p.TS = fmt.Sprintf("1700000000.%06d", s.ts)
	}
	// Slack answers with the channel's ID.
	p.ChannelAnswered = "C" + strings.ToUpper(strings.TrimPrefix(p.Channel, "#"))
	if method == "chat.update" {
		p.ChannelAnswered = p.Channel
	}
	s.posts = append(s.posts, p)
	fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, p.ChannelAnswered, p.TS)
}

func (s *slackAPI) all() []slackPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slackPost(nil), s.posts...)
}

// thread is what Slack shows of one deploy: its message as first posted,
// the replies in its thread, and the updates of the message.
type thread struct {
	first   slackPost
	replies []slackPost
	updates []slackPost
}

// threadOf finds the deploy's message (the top-level post whose blocks
// name the deploy) and what followed it.
func (s *slackAPI) threadOf(deployID string) (thread, bool) {
	var th thread
	found := false
	for _, p := range s.all() {
		switch {
		case !found && p.Method == "chat.postMessage" && p.ThreadTS == "" && strings.Contains(p.Blocks, "deploy "+deployID):
			th.first, found = p, true
		case found && p.Method == "chat.postMessage" && p.ThreadTS == th.first.TS:
			th.replies = append(th.replies, p)
		case found && p.Method == "chat.update" && p.TS == th.first.TS:
			th.updates = append(th.updates, p)
		}
	}
	return th, found
}

// topLevel counts the deploy's top-level messages: one, however many
// events and redeliveries.
func (s *slackAPI) topLevel(deployID string) int {
	n := 0
	for _, p := range s.all() {
		if p.Method == "chat.postMessage" && p.ThreadTS == "" && strings.Contains(p.Blocks, "deploy "+deployID) {
			n++
		}
	}
	return n
}
