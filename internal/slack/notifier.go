package slack

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	slackapi "github.com/slack-go/slack"

	"ecs-deploy/events"
	"ecs-deploy/pipeline"
)

// Config sets up a Notifier. Exactly one of WebhookURL and Token is set.
type Config struct {
	// WebhookURL is the incoming webhook to post to (webhook mode), unless a
	// route names its own. A secret: never logged.
	WebhookURL string
	// Token is the bot token (bot mode). A secret: never logged.
	Token string
	// APIURL is the Slack Web API's base URL, for tests. Default slack-go's.
	APIURL string
	// Routes say which channel gets which deploys. Default: everything to
	// the webhook's own channel (webhook mode); bot mode needs routes.
	Routes Routes
	// Threads remember each deploy's message. Default: in memory.
	Threads ThreadStore
	// HTTPClient makes the calls. Default: a client with a 15s timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one call. Default 5.
	MaxAttempts int
	// Backoff is the first wait after a 5xx or a connection error; it
	// doubles each time. Default 1s.
	Backoff time.Duration
	// MaxWait caps each wait, Retry-After included. Default 30s.
	MaxWait time.Duration
	// Sleep waits for d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Getenv reads the variables routes name in webhook_env. Default os.Getenv.
	Getenv func(string) string
	// Now is the clock for thread times. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Threads == nil {
		c.Threads = &MemoryThreads{}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.MaxWait == 0 {
		c.MaxWait = 30 * time.Second
	}
	if c.Sleep == nil {
		c.Sleep = pipeline.RealClock{}.Sleep
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WebhookURL != "" && c.Routes.Default == nil && len(c.Routes.Routes) == 0 {
		c.Routes.Default = &Route{}
	}
}

// Validate reports every missing or conflicting field. It names no secret.
func (c Config) Validate() error {
	var errs []error
	if c.WebhookURL != "" && c.Token != "" {
		errs = append(errs, errors.New("slack.Config: set WebhookURL or Token, not both"))
	}
	for _, r := range c.Routes.all() {
		switch {
		case c.Token != "" && r.Channel == "":
			errs = append(errs, fmt.Errorf("slack.Config.Routes: the route of app %q has no channel, which bot mode needs", r.App))
		case c.Token == "" && r.WebhookEnv == "" && c.WebhookURL == "":
			errs = append(errs, fmt.Errorf("slack.Config: the route of app %q names no webhook_env and there is no WebhookURL or Token", r.App))
		case c.Token == "" && r.WebhookEnv != "" && c.Getenv != nil && c.Getenv(r.WebhookEnv) == "":
			errs = append(errs, fmt.Errorf("slack.Config.Routes: %s, the webhook of app %q's route, is not set", r.WebhookEnv, r.App))
		}
	}
	if c.WebhookURL == "" && c.Token == "" && len(c.Routes.all()) == 0 {
		errs = append(errs, errors.New("slack.Config: WebhookURL or Token is required"))
	}
	if c.MaxAttempts < 0 || c.Backoff < 0 || c.MaxWait < 0 {
		errs = append(errs, errors.New("slack.Config: MaxAttempts, Backoff and MaxWait must not be negative"))
	}
	return errors.Join(errs...)
}

// Notifier posts deploy events to Slack.
type Notifier struct {
	cfg     Config
	api     *slackapi.Client // bot mode
	secrets []string
	locks   [64]sync.Mutex
}

// New returns a notifier.
func New(cfg Config) (*Notifier, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Notifier{cfg: cfg}
	for _, s := range []string{cfg.WebhookURL, cfg.Token} {
		if s != "" {
			n.secrets = append(n.secrets, s)
		}
	}
	for _, r := range cfg.Routes.all() {
		if r.WebhookEnv != "" {
			if u := cfg.Getenv(r.WebhookEnv); u != "" {
				n.secrets = append(n.secrets, u)
			}
		}
	}
	if cfg.Token != "" {
		opts := []slackapi.Option{slackapi.OptionHTTPClient(cfg.HTTPClient)}
		if cfg.APIURL != "" {
			opts = append(opts, slackapi.OptionAPIURL(strings.TrimSuffix(cfg.APIURL, "/")+"/"))
		}
		n.api = slackapi.New(cfg.Token, opts...)
	}
	return n, nil
}

// Notify tells Slack about one event. Events of one deploy are handled one
// at a time; a redelivered event is not posted twice.
func (n *Notifier) Notify(ctx context.Context, e events.Event) error {
	route, ok := n.cfg.Routes.Find(e.App, e.Env)
	if !ok || e.DeployID == "" {
		zerolog.Ctx(ctx).Debug().Str("event_type", string(e.Type)).Msg("slack: no route for this deploy")
		return nil
	}
	mu := &n.locks[slot(e.DeployID)]
	mu.Lock()
	defer mu.Unlock()
	th, _, err := n.cfg.Threads.Get(ctx, e.DeployID)
	if err != nil {
		return fmt.Errorf("slack thread of deploy %s: %w", e.DeployID, err)
	}
	key := fmt.Sprintf("%s/%d/%s", e.Type, e.Step, e.Time.UTC().Format(time.RFC3339Nano))
	if th.posted(key) {
		return nil
	}
	switch e.Type {
	case events.DeployStarted:
		if th.StartedAt.IsZero() {
			th.StartedAt = e.Time
		}
	case events.StepFailed:
		th.FailedStep, th.FailedStepName = e.Step, e.StepName
	}
	if n.api != nil {
		err = n.bot(ctx, route, e, &th)
	} else {
		err = n.webhook(ctx, route, e, th)
	}
	if err != nil {
		return err
	}
	th.markPosted(key)
	th.UpdatedAt = n.cfg.Now()
	if err := n.cfg.Threads.Put(ctx, e.DeployID, th); err != nil {
		return fmt.Errorf("slack thread of deploy %s: %w", e.DeployID, err)
	}
	return nil
}

// webhook posts the start and the end of each deploy.
func (n *Notifier) webhook(ctx context.Context, route Route, e events.Event, th Thread) error {
	if e.Type != events.DeployStarted && !e.Type.Final() {
		return nil
	}
	url := n.cfg.WebhookURL
	if route.WebhookEnv != "" {
		url = n.cfg.Getenv(route.WebhookEnv)
	}
	m := summary(e, th)
	msg := &slackapi.WebhookMessage{Channel: route.Channel, Text: m.Text, Blocks: &slackapi.Blocks{BlockSet: m.Blocks}}
	if err := n.call(ctx, "webhook", func(ctx context.Context) error {
		return slackapi.PostWebhookCustomHTTPContext(ctx, url, n.cfg.HTTPClient, msg)
	}); err != nil {
		return fmt.Errorf("slack: post %s of deploy %s: %w", e.Type, e.DeployID, err)
	}
	zerolog.Ctx(ctx).Debug().Str("event_type", string(e.Type)).Str("channel", route.Channel).Msg("slack: posted to the webhook")
	return nil
}

// bot keeps one message per deploy: posted at its first event, replied to
// for steps, updated with the outcome.
func (n *Notifier) bot(ctx context.Context, route Route, e events.Event, th *Thread) error {
	log := zerolog.Ctx(ctx)
	if th.TS == "" {
		if e.Type == events.DeployAccepted {
			return nil
		}
		m := summary(e, *th)
		var channel, ts string
		err := n.call(ctx, "chat.postMessage", func(ctx context.Context) error {
			var err error
			channel, ts, err = n.api.PostMessageContext(ctx, route.Channel, slackapi.MsgOptionText(m.Text, false), slackapi.MsgOptionBlocks(m.Blocks...))
			return err
		})
		if err != nil {
			return fmt.Errorf("slack: post deploy %s to %s: %w", e.DeployID, route.Channel, err)
		}
		th.Channel, th.TS = channel, ts
		log.Debug().Str("channel", channel).Str("ts", ts).Msg("slack: posted the deploy's message")
		// Kept at once: should what follows fail, the retry must not post
		// a second message.
		th.UpdatedAt = n.cfg.Now()
		if err := n.cfg.Threads.Put(ctx, e.DeployID, *th); err != nil {
			return fmt.Errorf("slack thread of deploy %s: %w", e.DeployID, err)
		}
		if e.Type == events.DeployStarted || e.Type.Final() {
			return nil
		}
	}
	if e.Type.Final() || e.Type == events.DeployStarted {
		m := summary(e, *th)
		if err := n.call(ctx, "chat.update", func(ctx context.Context) error {
			_, _, _, err := n.api.UpdateMessageContext(ctx, th.Channel, th.TS, slackapi.MsgOptionText(m.Text, false), slackapi.MsgOptionBlocks(m.Blocks...))
			return err
		}); err != nil {
			return fmt.Errorf("slack: update deploy %s's message: %w", e.DeployID, err)
		}
		if e.Type.Final() {
			return nil
		}
	}
	m, ok := reply(e)
	if !ok {
		return nil
	}
	if err := n.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		_, _, err := n.api.PostMessageContext(ctx, th.Channel, slackapi.MsgOptionTS(th.TS), slackapi.MsgOptionText(m.Text, false), slackapi.MsgOptionBlocks(m.Blocks...))
		return err
	}); err != nil {
		return fmt.Errorf("slack: reply to deploy %s's message: %w", e.DeployID, err)
	}
	return nil
}

// slot picks the lock of a deploy.
func slot(deployID string) int {
	h := fnv.New32a()
	h.Write([]byte(deployID))
	return int(h.Sum32() % 64)
}
