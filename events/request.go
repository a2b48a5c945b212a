package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// RequestSchema versions the JSON form of Request.
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
)

// Request asks for one deploy. Senders set RequestID, the idempotency key:
// the same request sent twice deploys once.
type Request struct {
	Schema    string `json:"schema"`
	RequestID string `json:"request_id"`
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

// Validate reports every problem of the request, each naming its field.
func (r Request) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Schema != RequestSchema {
		bad("schema is %q, want %q", r.Schema, RequestSchema)
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
	mode := r.Mode
	if mode == "" {
		mode = ModeDeploy
	}
	switch mode {
	case ModeDeploy, ModeStartOver, ModePlan:
		switch {
		case r.SHA == "" && r.Build == 0:
			bad("an artifact is required: set sha or build")
		case r.SHA != "" && r.Build != 0:
			bad("set sha or build, not both")
		}
	case ModeResume, ModeRollback:
		if r.SHA != "" || r.Build != 0 {
			bad("mode %s takes no artifact: it uses the one already deployed", mode)
		}
	default:
		bad("mode %q is not deploy, resume, start-over, rollback or plan", r.Mode)
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

// DecodeRequest reads one request: at most MaxRequestBytes of JSON, one
// object, no unknown fields, valid values. Every error wraps ErrBadRequest
// and says what is wrong in words a sender can act on.
func DecodeRequest(body []byte) (Request, error) {
	var r Request
	if len(body) > MaxRequestBytes {
		return r, fmt.Errorf("%w: body is %d bytes, more than the %d allowed", ErrBadRequest, len(body), MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("%w: %s", ErrBadRequest, describeDecodeError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return r, fmt.Errorf("%w: more than one JSON value in the body", ErrBadRequest)
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
