package slack

import (
	"errors"
	"net/url"
	"strings"
)

// redactedError is an error whose text had the secrets taken out. It
// unwraps to what classifies it (a url.Error's inner error, a Slack
// status), never to a value whose text could carry a secret.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// redact rebuilds err without the secrets: a url.Error's URL is replaced
// as a whole, and any secret left in the text is masked.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg, cause := err.Error(), err
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.URL != "" {
			msg = strings.ReplaceAll(msg, ue.URL, "[redacted URL]")
		}
		cause = ue.Err
		if ue.Err != nil && strings.Contains(ue.Err.Error(), "://") {
			cause = nil
		}
	}
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return &redactedError{msg: msg, cause: cause}
}
