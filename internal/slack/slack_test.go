package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/internal/slack"
)

const (
	token       = "xoxb-1111-2222-SECRETBOTTOKEN"
	webhookPath = "/services/T000/B000/SECRETWEBHOOKPART"
)

// fakeSlack stands in for Slack: the Web API's chat.postMessage and
// chat.update (form posts) and incoming webhooks (JSON posts).
type fakeSlack struct {
	*httptest.Server
	mu    sync.Mutex
	calls []call
	fail  map[string][]int // path: statuses to answer first
	// failAfter answers 400 to a path's call after that many went through.
	failAfter map[string]int
	ok        map[string]int
	ts        int
}

type call struct {
	Path string
	Form url.Values     // Web API calls
	Hook map[string]any // webhook posts
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{fail: map[string][]int{}, ok: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlack) failFirst(path string, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[path] = append(f.fail[path], statuses...)
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, set := f.failAfter[r.URL.Path]; set && f.ok[r.URL.Path] == n {
		delete(f.failAfter, r.URL.Path)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if q := f.fail[r.URL.Path]; len(q) > 0 {
		f.fail[r.URL.Path] = q[1:]
		if q[0] == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(q[0])
		return
	}
	body, _ := io.ReadAll(r.Body)
	c := call{Path: r.URL.Path}
	switch {
	case strings.HasPrefix(r.URL.Path, "/services/"):
		if err := json.Unmarshal(body, &c.Hook); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		f.calls = append(f.calls, c)
		io.WriteString(w, "ok")
	case r.URL.Path == "/api/chat.postMessage" || r.URL.Path == "/api/chat.update":
		c.Form, _ = url.ParseQuery(string(body))
		if c.Form.Get("token") != token {
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		f.calls = append(f.calls, c)
		f.ok[r.URL.Path]++
		ts := c.Form.Get("ts")
		if ts == "" {
			f.ts++
			ts = fmt.Sprintf("1700000000.%06d", f.ts)
		}
		fmt.Fprintf(w, `{"ok":true,"channel":"C%s","ts":%q}`, strings.ToUpper(strings.TrimPrefix(c.Form.Get("channel"), "#")), ts)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeSlack) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// logged returns a context whose zerolog logger writes to buf.
func logged(t *testing.T, buf *bytes.Buffer) context.Context {
	return zerolog.New(buf).Level(zerolog.DebugLevel).WithContext(t.Context())
}

// sleeps records the waits a notifier asks for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// deploy is the events of one deploy of shop to prod that fails at step 7.
func failedDeploy() []events.Event {
	base := events.Event{Schema: events.EventSchema, DeployID: "d-1", App: "shop", Env: "prod", Mode: "deploy",
		Artifact: "img.example/shop:42", Build: 42, ConfigSHA: "0123456789abcdef", RequestedBy: "alice", Project: "shop"}
	at := func(e events.Event, typ events.Type, sec int) events.Event {
		e.Type, e.Time = typ, t0.Add(time.Duration(sec)*time.Second)
		return e
	}
	started := at(base, events.DeployStarted, 0)
	started.Message = "deploy of build 42 to prod"
	step2 := at(base, events.StepStarted, 1)
	step2.Step, step2.StepName = 2, "pre-deploy"
	step2ok := at(base, events.StepSucceeded, 2)
	step2ok.Step, step2ok.StepName = 2, "pre-deploy"
	step7 := at(base, events.StepFailed, 95)
	step7.Step, step7.StepName, step7.Error = 7, "wait-stable", "task set ts-1: tasks <stopped>: exit 1"
	failed := at(base, events.DeployFailed, 96)
	failed.Error = "step 7 (wait-stable): task set ts-1: tasks <stopped>: exit 1"
	return []events.Event{started, step2, step2ok, step7, failed}
}

func TestSlackNotifier(t *testing.T) {
	t.Run("bot: one message per deploy, steps in its thread, the outcome in an update", func(t *testing.T) {
		fs := newFakeSlack(t)
		var logs bytes.Buffer
		var waits sleeps
		n, err := slack.New(slack.Config{Token: token, APIURL: fs.URL + "/api/", Sleep: waits.Sleep,
			Routes: slack.Routes{Default: &slack.Route{Channel: "#deploys"}, Routes: []slack.Route{{App: "shop", Envs: []string{"prod"}, Channel: "#shop-prod"}}}})
		if err != nil {
			t.Fatal(err)
		}
		// The first reply is rate limited, the update meets a 503.
		fs.failFirst("/api/chat.update", http.StatusServiceUnavailable)
		ctx := logged(t, &logs)
		for i, e := range failedDeploy() {
			if i == 2 {
				fs.failFirst("/api/chat.postMessage", http.StatusTooManyRequests)
			}
			if err := n.Notify(ctx, e); err != nil {
				t.Fatalf("%s: %v", e.Type, err)
			}
			if i == 2 { // a redelivered event is not posted again
				if err := n.Notify(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
		}
		calls := fs.Calls()
		if len(calls) != 4 {
			t.Fatalf("%d calls, want post, 2 replies and an update: %+v", len(calls), calls)
		}
		parent, ok2, fail7, update := calls[0], calls[1], calls[2], calls[3]
		if parent.Path != "/api/chat.postMessage" || parent.Form.Get("channel") != "#shop-prod" || parent.Form.Get("thread_ts") != "" {
			t.Errorf("first call %+v; want the deploy's message in #shop-prod", parent)
		}
		wantBlocks(t, "deploy message", parent.Form.Get("blocks"), "Deploy of shop to prod in progress", "*App*\\nshop", "*Env*\\nprod",
			"build 42: img.example/shop:42", "*Config*\\n01234567", "*Requested by*\\nalice", "deploy d-1")
		for _, r := range []call{ok2, fail7} {
			if r.Path != "/api/chat.postMessage" || r.Form.Get("thread_ts") != "1700000000.000001" || r.Form.Get("channel") != "CSHOP-PROD" {
				t.Errorf("reply %+v; want it in the thread of 1700000000.000001", r.Form)
			}
		}
		wantBlocks(t, "step 2 reply", ok2.Form.Get("blocks"), "Step 2 (pre-deploy) done")
		wantBlocks(t, "step 7 reply", fail7.Form.Get("blocks"), "Step 7 (wait-stable) failed: task set ts-1: tasks &lt;stopped&gt;: exit 1")
		if update.Path != "/api/chat.update" || update.Form.Get("ts") != "1700000000.000001" || update.Form.Get("channel") != "CSHOP-PROD" {
			t.Errorf("last call %+v; want an update of the deploy's message", update)
		}
		wantBlocks(t, "final update", update.Form.Get("blocks"), "Deploy of shop to prod failed", "*Outcome*\\nfailed",
			"*Duration*\\n1m36s", "*Failing step:* 7 (wait-stable)", "*Reason:* step 7 (wait-stable)")
		// 429 waits its Retry-After; the 503 waits the first backoff.
		if fmt.Sprint(waits.d) != "[7s 1s]" {
			t.Errorf("waits %v; want [7s 1s]", waits.d)
		}
		noSecrets(t, logs.String())
	})

	t.Run("webhook: the start and the end of each deploy, routed", func(t *testing.T) {
		fs := newFakeSlack(t)
		var logs bytes.Buffer
		var waits sleeps
		env := map[string]string{"SLACK_WEBHOOK_SHOP": fs.URL + "/services/T000/B000/SECRETSHOPHOOK"}
		n, err := slack.New(slack.Config{WebhookURL: fs.URL + webhookPath, Sleep: waits.Sleep, Getenv: func(k string) string { return env[k] },
			Routes: slack.Routes{Default: &slack.Route{}, Routes: []slack.Route{{App: "shop", WebhookEnv: "SLACK_WEBHOOK_SHOP", Channel: "#shop"}}}})
		if err != nil {
			t.Fatal(err)
		}
		fs.failFirst("/services/T000/B000/SECRETSHOPHOOK", http.StatusInternalServerError, http.StatusBadGateway)
		ctx := logged(t, &logs)
		for _, e := range failedDeploy() {
			if err := n.Notify(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		other := failedDeploy()[0]
		other.App, other.DeployID = "cart", "d-2"
		if err := n.Notify(ctx, other); err != nil {
			t.Fatal(err)
		}
		calls := fs.Calls()
		if len(calls) != 3 {
			t.Fatalf("%d posts, want start and end of shop, start of cart: %+v", len(calls), calls)
		}
		start, end, cart := calls[0], calls[1], calls[2]
		if start.Path != "/services/T000/B000/SECRETSHOPHOOK" || start.Hook["channel"] != "#shop" || end.Path != start.Path {
			t.Errorf("shop went to %s and %s; want its own webhook", start.Path, end.Path)
		}
		if cart.Path != webhookPath {
			t.Errorf("cart went to %s; want the default webhook", cart.Path)
		}
		wantBlocks(t, "start", jsonOf(start.Hook["blocks"]), "Deploy of shop to prod in progress", "*Requested by*\\nalice")
		wantBlocks(t, "end", jsonOf(end.Hook["blocks"]), "Deploy of shop to prod failed", "*Duration*\\n1m36s", "*Failing step:* 7 (wait-stable)")
		if fmt.Sprint(waits.d) != "[1s 2s]" {
			t.Errorf("waits %v; want a doubling backoff [1s 2s]", waits.d)
		}
		noSecrets(t, logs.String())
	})

	t.Run("a failed reply, redelivered, posts no second message", func(t *testing.T) {
		fs := newFakeSlack(t)
		n, err := slack.New(slack.Config{Token: token, APIURL: fs.URL + "/api/", Sleep: (&sleeps{}).Sleep,
			Routes: slack.Routes{Default: &slack.Route{Channel: "#deploys"}}})
		if err != nil {
			t.Fatal(err)
		}
		step := failedDeploy()[2] // the first event seen is a step: message, then reply
		// Let the message through and fail the reply.
		fs.failAfter = map[string]int{"/api/chat.postMessage": 1}
		if err := n.Notify(t.Context(), step); err == nil {
			t.Fatal("the reply's failure was not returned")
		}
		if err := n.Notify(t.Context(), step); err != nil {
			t.Fatal(err)
		}
		calls := fs.Calls()
		if len(calls) != 2 || calls[0].Form.Get("thread_ts") != "" || calls[1].Form.Get("thread_ts") != "1700000000.000001" {
			t.Fatalf("calls %+v; want one message and one reply", calls)
		}
	})

	t.Run("retries are bounded", func(t *testing.T) {
		fs := newFakeSlack(t)
		var waits sleeps
		n, err := slack.New(slack.Config{WebhookURL: fs.URL + webhookPath, Sleep: waits.Sleep, MaxAttempts: 3, MaxWait: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		fs.failFirst(webhookPath, 500, 500, 500, 500)
		var logs bytes.Buffer
		err = n.Notify(logged(t, &logs), failedDeploy()[0])
		if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Fatalf("Notify = %v; want it to give up after 3 attempts", err)
		}
		if fmt.Sprint(waits.d) != "[1s 2s]" || len(fs.Calls()) != 0 {
			t.Fatalf("waits %v, calls %d", waits.d, len(fs.Calls()))
		}
		noSecrets(t, err.Error()+logs.String())
	})

	t.Run("a refused connection leaks no secret", func(t *testing.T) {
		closed := closedPort(t)
		for name, cfg := range map[string]slack.Config{
			"webhook": {WebhookURL: "http://" + closed + webhookPath},
			"bot":     {Token: token, APIURL: "http://" + closed + "/api/", Routes: slack.Routes{Default: &slack.Route{Channel: "#deploys"}}},
		} {
			t.Run(name, func(t *testing.T) {
				var waits sleeps
				cfg.Sleep, cfg.MaxAttempts = waits.Sleep, 2
				n, err := slack.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				var logs bytes.Buffer
				err = n.Notify(logged(t, &logs), failedDeploy()[0])
				if err == nil || !strings.Contains(err.Error(), "connection refused") {
					t.Fatalf("Notify = %v; want connection refused", err)
				}
				t.Logf("error: %v", err)
				if len(waits.d) != 1 || !strings.Contains(logs.String(), "connection refused") {
					t.Fatalf("waits %v, logs %s; want one retry, logged", waits.d, logs.String())
				}
				noSecrets(t, err.Error()+logs.String())
			})
		}
	})

	t.Run("a Slack error is not retried", func(t *testing.T) {
		fs := newFakeSlack(t)
		var waits sleeps
		n, err := slack.New(slack.Config{Token: "xoxb-wrong-token", APIURL: fs.URL + "/api/", Sleep: waits.Sleep,
			Routes: slack.Routes{Default: &slack.Route{Channel: "#deploys"}}})
		if err != nil {
			t.Fatal(err)
		}
		err = n.Notify(t.Context(), failedDeploy()[0])
		if err == nil || !strings.Contains(err.Error(), "invalid_auth") || len(waits.d) != 0 || strings.Contains(err.Error(), "xoxb-wrong-token") {
			t.Fatalf("Notify = %v after waits %v; want invalid_auth at once", err, waits.d)
		}
	})
}

func TestRoutes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.json")
	os.WriteFile(path, []byte(`{"default": {"channel": "#deploys"}, "routes": [
		{"app": "shop", "envs": ["prod"], "channel": "#shop-prod"},
		{"app": "shop", "channel": "#shop"},
		{"app": "*", "envs": ["sandbox"], "channel": "#sandboxes"}]}`), 0o600)
	rs, err := slack.LoadRoutes(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ app, env, want string }{
		{"shop", "prod", "#shop-prod"}, {"shop", "dev", "#shop"}, {"cart", "sandbox", "#sandboxes"}, {"cart", "prod", "#deploys"},
	} {
		if r, ok := rs.Find(c.app, c.env); !ok || r.Channel != c.want {
			t.Errorf("%s/%s goes to %q, want %q", c.app, c.env, r.Channel, c.want)
		}
	}
	if _, ok := (slack.Routes{}).Find("shop", "prod"); ok {
		t.Error("no routes and no default found a route")
	}
	os.WriteFile(path, []byte(`{"routes": [{"app": "shop", "chanel": "#typo"}]}`), 0o600)
	if _, err := slack.LoadRoutes(path); err == nil || !strings.Contains(err.Error(), `unknown field "chanel"`) {
		t.Errorf("a typo in the routing file: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]struct {
		cfg  slack.Config
		want string
	}{
		"neither":                {slack.Config{}, "WebhookURL or Token is required"},
		"both":                   {slack.Config{WebhookURL: "http://x/services/a", Token: token}, "not both"},
		"bot without a channel":  {slack.Config{Token: token, Routes: slack.Routes{Routes: []slack.Route{{App: "shop"}}}}, "has no channel"},
		"webhook variable unset": {slack.Config{WebhookURL: "http://x/services/a", Getenv: func(string) string { return "" }, Routes: slack.Routes{Routes: []slack.Route{{App: "shop", WebhookEnv: "HOOK"}}}}, "HOOK"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := slack.New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v; want %q", err, c.want)
			}
			noSecrets(t, err.Error())
		})
	}
}

func wantBlocks(t *testing.T, what, blocks string, want ...string) {
	t.Helper()
	if !json.Valid([]byte(blocks)) {
		t.Errorf("%s: blocks are not JSON: %s", what, blocks)
	}
	blocks = strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(blocks)
	for _, w := range want {
		if !strings.Contains(blocks, w) {
			t.Errorf("%s: blocks lack %q: %s", what, w, blocks)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{"SECRETBOTTOKEN", "SECRETWEBHOOKPART", "SECRETSHOPHOOK", "/services/"} {
		if strings.Contains(s, secret) {
			t.Errorf("%q leaked into: %s", secret, s)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
