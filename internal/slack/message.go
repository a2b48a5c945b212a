package slack

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"ecs-deploy/events"
)

// message is one Slack message: its blocks and the plain text that
// notifications and old clients show.
type message struct {
	Text   string
	Blocks []slackapi.Block
}

// outcome words and emoji per event type.
var outcomes = map[events.Type]struct{ word, emoji string }{
	events.DeployStarted:    {"in progress", ":hourglass_flowing_sand:"},
	events.DeployQueued:     {"queued", ":double_vertical_bar:"},
	events.DeploySucceeded:  {"succeeded", ":white_check_mark:"},
	events.DeployFailed:     {"failed", ":x:"},
	events.DeployRolledBack: {"rolled back", ":leftwards_arrow_with_hook:"},
	events.DeployRejected:   {"rejected", ":no_entry:"},
}

// summary is the deploy's message: app, env, artifact, config, who asked,
// the outcome so far, and at the end the duration and the failing step.
func summary(e events.Event, th Thread) message {
	o, ok := outcomes[e.Type]
	if !ok {
		o = outcomes[events.DeployStarted]
	}
	mode := e.Mode
	if mode == "" {
		mode = "deploy"
	}
	title := fmt.Sprintf("%s %s of %s to %s %s", o.emoji, strings.ToUpper(mode[:1])+mode[1:], e.App, e.Env, o.word)
	fields := []*slackapi.TextBlockObject{
		field("App", e.App), field("Env", e.Env),
		field("Artifact", artifact(e)), field("Config", short(e.ConfigSHA)),
		field("Requested by", e.RequestedBy), field("Outcome", o.word),
	}
	if e.Type.Final() && !th.StartedAt.IsZero() && e.Time.After(th.StartedAt) {
		fields = append(fields, field("Duration", e.Time.Sub(th.StartedAt).Round(time.Second).String()))
	}
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, clipText(title, 150), true, false)),
		slackapi.NewSectionBlock(nil, fields, nil),
	}
	if e.Type.Final() && e.Type != events.DeploySucceeded {
		reason := e.Error
		if reason == "" {
			reason = e.Message
		}
		text := "*Reason:* " + esc(reason)
		if th.FailedStep > 0 {
			text = fmt.Sprintf("*Failing step:* %d (%s)\n%s", th.FailedStep, esc(th.FailedStepName), text)
		}
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(clipText(text, 2900)), nil, nil))
	}
	blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn("deploy "+esc(e.DeployID))))
	return message{Text: title, Blocks: blocks}
}

// reply is a thread reply for a step or a queued deploy; ok is false for
// events that get none.
func reply(e events.Event) (message, bool) {
	var text string
	switch e.Type {
	case events.StepSucceeded:
		text = fmt.Sprintf(":white_check_mark: Step %d (%s) done", e.Step, esc(e.StepName))
	case events.StepFailed:
		text = fmt.Sprintf(":x: Step %d (%s) failed: %s", e.Step, esc(e.StepName), esc(e.Error))
	case events.DeployQueued:
		text = ":double_vertical_bar: Queued: " + esc(e.Message)
	case events.DeployStarted:
		text = ":arrow_forward: " + esc(cmp.Or(e.Message, "started"))
	default:
		return message{}, false
	}
	text = clipText(text, 2900)
	return message{Text: text, Blocks: []slackapi.Block{slackapi.NewSectionBlock(mrkdwn(text), nil, nil)}}, true
}

func field(name, value string) *slackapi.TextBlockObject {
	if value == "" {
		value = "–"
	}
	return mrkdwn(fmt.Sprintf("*%s*\n%s", name, esc(value)))
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, false)
}

func artifact(e events.Event) string {
	switch {
	case e.Build > 0 && e.Artifact != "":
		return fmt.Sprintf("build %d: %s", e.Build, e.Artifact)
	case e.Build > 0:
		return fmt.Sprintf("build %d", e.Build)
	}
	return e.Artifact
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// esc escapes the three characters mrkdwn treats as markup.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func clipText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
