package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// RequestSchema versions the JSON form of Request. A request may omit it:
// no schema means this one.
const RequestSchema = "ecs-deploy.request/v1"

// MaxRequestBytes is the largest request body accepted.
const MaxRequestBytes = 64 << 10

// Modes a request can ask for.
const (
	ModeDeploy    = "deploy"
	ModeResume    = "resume"
	ModeStartOver = "start-over"
	ModeRollback  = "rollback"
	ModePlan      = "plan"
	// ModeAbort stops the running deploy of the app and env at its next
	// safe point and closes it: before the swap what served stays, after
	// it the previous task set serves again.
	ModeAbort = "abort"
)

// Request asks for one deploy. Senders set RequestID, the idempotency key:
// the same request sent twice deploys once.
type Request struct {
	Schema string `json:"schema,omitempty"`
	// RequestID may be omitted: the daemon then uses the SQS message ID,
	// and can no longer tell a sender's duplicate from a new request.
	RequestID string `json:"request_id,omitempty"`
	App       string `json:"app"`
	Env       string `json:"env"`
	// SHA selects the artifact by its SHA tag; Build by build number.
	SHA   string `json:"sha,omitempty"`
	Build int    `json:"build,omitempty"`
	// ConfigSHA names the deploy config version: a commit of the config
	// repository, or the sha256 of a config file.
	ConfigSHA   string `json:"config_sha,omitempty"`
	Mode        string `json:"mode,omitempty"`
	RequestedBy string `json:"requested_by"`
	Reason      string `json:"reason,omitempty"`
	// SkipCommands asks for no pre- or post-deploy commands, as the
	// original tool's -skip-pre-post did. Verify commands still run.
	SkipCommands bool `json:"skip_commands,omitempty"`
	// Config carries the deploy config itself; daemons refuse it unless
	// told to accept configs inside requests.
	Config json.RawMessage `json:"config,omitempty"`
}

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,35}$`)
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	shaPattern  = regexp.MustCompile(`^[0-9a-fA-F]{4,64}$`)
)

// ErrBadRequest wraps every reason a request is refused.
var ErrBadRequest = errors.New("bad deploy request")

// ValidRequestID says whether id can be a request ID.
func ValidRequestID(id string) bool { return idPattern.MatchString(id) }

// Validate reports every problem of the request, each naming its field.
func (r Request) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Schema != "" && r.Schema != RequestSchema {
		bad("schema is %q, want %q (or no schema)", r.Schema, RequestSchema)
	}
	if !idPattern.MatchString(r.RequestID) {
		bad("request_id %q must be 1 to 36 letters, digits, '_', '.', ':' or '-'", r.RequestID)
	}
	if !namePattern.MatchString(r.App) {
		bad("app %q must be 1 to 64 letters, digits, '_' or '-'", r.App)
	}
	if !namePattern.MatchString(r.Env) {
		bad("env %q must be 1 to 64 letters, digits, '_' or '-'", r.Env)
	}
	mode := r.EffectiveMode()
	switch mode {
	case ModeDeploy, ModeStartOver, ModePlan:
		switch {
		case r.SHA == "" && r.Build == 0:
			bad("an artifact is required: set sha or build")
		case r.SHA != "" && r.Build != 0:
			bad("set sha or build, not both")
		}
	case ModeResume, ModeRollback, ModeAbort:
		if r.SHA != "" || r.Build != 0 {
			bad("mode %s takes no artifact: it uses the one already deployed", mode)
		}
	default:
		bad("mode %q is not deploy, resume, start-over, rollback, abort or plan", r.Mode)
	}
	if r.SHA != "" && !shaPattern.MatchString(r.SHA) {
		bad("sha %q is not a hex commit SHA", r.SHA)
	}
	if r.Build < 0 {
		bad("build %d is negative", r.Build)
	}
	if r.ConfigSHA != "" && !shaPattern.MatchString(r.ConfigSHA) {
		bad("config_sha %q is not a hex SHA", r.ConfigSHA)
	}
	if strings.TrimSpace(r.RequestedBy) == "" {
		bad("requested_by is required: who asks for this deploy")
	}
	if len(r.RequestedBy) > 128 || len(r.Reason) > 1024 {
		bad("requested_by (128) or reason (1024 characters) is too long")
	}
	for field, v := range map[string]string{"requested_by": r.RequestedBy, "reason": r.Reason} {
		if i := strings.IndexFunc(v, isControl); i >= 0 {
			bad("%s has a control character (%U) at byte %d", field, []rune(v[i:])[0], i)
		}
	}
	if len(r.Config) > 0 && !json.Valid(r.Config) {
		bad("config is not valid JSON")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrBadRequest, errors.Join(errs...))
}

// EffectiveMode is the request's mode, deploy when unset.
func (r Request) EffectiveMode() string {
	if r.Mode == "" {
		return ModeDeploy
	}
	return r.Mode
}

// Preempts says whether the request stops a running deploy rather than
// wait for it: rollbacks and aborts.
func (r Request) Preempts() bool {
	m := r.EffectiveMode()
	return m == ModeRollback || m == ModeAbort
}

// DecodeRequest reads one request: at most MaxRequestBytes of JSON, one
// object, no unknown fields, no duplicate keys, no control characters, valid
// values. A request without a request_id gets messageID. Every error wraps
// ErrBadRequest and says what is wrong in words a sender can act on.
func DecodeRequest(body []byte, messageID string) (Request, error) {
	var r Request
	if len(body) > MaxRequestBytes {
		return r, fmt.Errorf("%w: body is %d bytes, more than the %d allowed", ErrBadRequest, len(body), MaxRequestBytes)
	}
	if err := checkJSON(body); err != nil {
		return r, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: %s", ErrBadRequest, describeDecodeError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return r, fmt.Errorf("%w: more than one JSON value in the body", ErrBadRequest)
	}
	if r.RequestID == "" {
		r.RequestID = messageID
	}
	return r, r.Validate()
}

func describeDecodeError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s must be a %s, not %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return err.Error()
}

// Hash identifies what a request asks for: two requests with the same hash
// ask for the same thing. The schema, the request ID and the reason are
// left out.
func (r Request) Hash() string {
	b, _ := json.Marshal(r.summary())
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// RequestSummary is what Hash covers, kept in the request record so a
// reused request ID can be told apart in words.
type RequestSummary struct {
	App          string `json:"app"`
	Env          string `json:"env"`
	Mode         string `json:"mode"`
	SHA          string `json:"sha,omitempty"`
	Build        int    `json:"build,omitempty"`
	ConfigSHA    string `json:"config_sha,omitempty"`
	SkipCommands bool   `json:"skip_commands,omitempty"`
	RequestedBy  string `json:"requested_by"`
	// ConfigHash is the sha256 of an inline config, compacted.
	ConfigHash string `json:"config_hash,omitempty"`
}

func (r Request) summary() RequestSummary {
	s := RequestSummary{App: r.App, Env: r.Env, Mode: r.EffectiveMode(), SHA: strings.ToLower(r.SHA), Build: r.Build,
		ConfigSHA: strings.ToLower(r.ConfigSHA), SkipCommands: r.SkipCommands, RequestedBy: r.RequestedBy}
	if len(r.Config) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, r.Config) != nil {
			b.Reset()
			b.Write(r.Config)
		}
		sum := sha256.Sum256(b.Bytes())
		s.ConfigHash = hex.EncodeToString(sum[:])
	}
	return s
}

// Summary returns what Hash covers.
func (r Request) Summary() RequestSummary { return r.summary() }

// Difference says in words how r differs from an earlier request s:
// "build 4, not 5" reads "it was build 4, this one is build 5".
func (s RequestSummary) Difference(r Request) string {
	n := r.summary()
	show := func(v any) string {
		if str, ok := v.(string); ok && str == "" {
			return "none"
		}
		return fmt.Sprint(v)
	}
	for _, d := range []struct {
		name     string
		was, now any
	}{
		{"app", s.App, n.App}, {"env", s.Env, n.Env}, {"mode", s.Mode, n.Mode},
		{"build", s.Build, n.Build}, {"sha", s.SHA, n.SHA}, {"config_sha", s.ConfigSHA, n.ConfigSHA},
		{"skip_commands", s.SkipCommands, n.SkipCommands}, {"requested_by", s.RequestedBy, n.RequestedBy},
	} {
		if d.was != d.now {
			if d.name == "build" && (s.Build == 0 || n.Build == 0) {
				continue // an artifact by SHA on one side: the sha line says it
			}
			return fmt.Sprintf("%s %s, not %s", d.name, show(d.was), show(d.now))
		}
	}
	if s.ConfigHash != n.ConfigHash {
		return "another config inside the request"
	}
	return "the same request"
}
