package events

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	good := `{"schema":"ecs-deploy.request/v1","request_id":"r-1","app":"shop","env":"prod","sha":"abc123","config_sha":"def456","requested_by":"ci"}`
	r, err := DecodeRequest([]byte(good), "m-1")
	if err != nil || r.App != "shop" || r.EffectiveMode() != ModeDeploy {
		t.Fatalf("good request: %+v %v", r, err)
	}
	cases := map[string]struct{ body, want string }{
		"not JSON":       {`deploy shop please`, "not valid JSON"},
		"empty":          {``, "empty body"},
		"unknown field":  {strings.Replace(good, `"app"`, `"colour":"red","app"`, 1), `unknown field "colour"`},
		"missing app":    {strings.Replace(good, `"app":"shop",`, ``, 1), `app ""`},
		"wrong schema":   {strings.Replace(good, `request/v1`, `request/v9`, 1), "schema"},
		"duplicate key":  {strings.Replace(good, `"app":"shop"`, `"app":"shop","app":"admin"`, 1), `key "app" appears twice`},
		"nested dup key": {strings.Replace(good, `"requested_by"`, `"config":{"Apps":{"a":1,"a":2}},"requested_by"`, 1), `key "a" appears twice in $.config.Apps`},
		"control char":   {strings.Replace(good, `"requested_by":"ci"`, `"requested_by":"ci\u001b[31m"`, 1), "control character"},
		"newline":        {strings.Replace(good, `"requested_by"`, `"reason":"a\nb","requested_by"`, 1), "$.reason has a control character"},
		"abort w/ sha":   {strings.Replace(good, `"requested_by"`, `"mode":"abort","requested_by"`, 1), "takes no artifact"},
		"wrong type":     {strings.Replace(good, `"sha":"abc123"`, `"build":"seven"`, 1), "field build must be a int"},
		"two artifacts":  {strings.Replace(good, `"sha":"abc123"`, `"sha":"abc123","build":7`, 1), "not both"},
		"no artifact":    {strings.Replace(good, `"sha":"abc123",`, ``, 1), "artifact is required"},
		"bad mode":       {strings.Replace(good, `"requested_by"`, `"mode":"yolo","requested_by"`, 1), `mode "yolo"`},
		"bad sha":        {strings.Replace(good, `abc123`, `main`, 1), `sha "main"`},
		"no sender":      {strings.Replace(good, `"requested_by":"ci"`, `"requested_by":" "`, 1), "requested_by is required"},
		"two values":     {good + good, "more than one JSON value"},
		"oversize":       {`{"reason":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, "more than the"},
		"resume w/ sha":  {strings.Replace(good, `"requested_by"`, `"mode":"resume","requested_by"`, 1), "takes no artifact"},
		"bad request id": {strings.Replace(good, `"r-1"`, `"r 1; drop"`, 1), "request_id"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(c.body), "m-1")
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
		})
	}
}

// TestMinimalRequest: a chat-ops bot sends app, env, sha and requested_by;
// the schema means v1 and the request ID is the message's.
func TestMinimalRequest(t *testing.T) {
	r, err := DecodeRequest([]byte(`{"app":"shop","env":"prod","sha":"abc123","requested_by":"alice"}`), "0f9d1c2e-6a4b-4f7e-9a51-3b2c1d0e9f8a")
	if err != nil || r.RequestID != "0f9d1c2e-6a4b-4f7e-9a51-3b2c1d0e9f8a" || r.EffectiveMode() != ModeDeploy {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = DecodeRequest([]byte(`{"app":"shop","env":"prod","mode":"abort","skip_commands":true,"requested_by":"alice"}`), "m-2")
	if err != nil || !r.Preempts() || !r.SkipCommands {
		t.Fatalf("abort: %+v %v", r, err)
	}
}

func TestRequestHash(t *testing.T) {
	a := Request{RequestID: "ci-1234", App: "shop", Env: "prod", Build: 4, RequestedBy: "ci", Reason: "one"}
	b := a
	b.Reason, b.RequestID, b.Schema = "another reason", "other", RequestSchema
	if a.Hash() != b.Hash() {
		t.Fatal("the reason, schema or request ID changed the hash")
	}
	b.Build = 5
	if a.Hash() == b.Hash() {
		t.Fatal("another build kept the hash")
	}
	if d := a.Summary().Difference(b); d != "build 4, not 5" {
		t.Fatalf("difference %q", d)
	}
	c := a
	c.Build, c.SHA = 0, "abc123"
	if d := a.Summary().Difference(c); d != "sha none, not abc123" {
		t.Fatalf("difference %q", d)
	}
}

func TestEventIDIsStable(t *testing.T) {
	e := Event{Type: DeploySucceeded, DeployID: "d", App: "a", Env: "e", Message: "done"}
	id := e.WithID().EventID
	if id == "" || e.WithID().EventID != id || e.WithID().WithID().EventID != id {
		t.Fatal("event ID not stable")
	}
	e.Message = "other"
	if e.WithID().EventID == id {
		t.Fatal("two events share an ID")
	}
}

func TestEventAttributesFitSNS(t *testing.T) {
	e := Event{Type: DeploySucceeded, App: "a", Env: "e", DeployID: "d", CorrelationID: "c"}
	if n := len(e.Attributes()); n > 9 {
		t.Fatalf("%d attributes", n)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"schema":"ecs-deploy.request/v1","request_id":"r-1","app":"shop","env":"prod","sha":"abc123","requested_by":"ci"}`))
	f.Add([]byte(`{"mode":"rollback","config":{"Apps":{}}}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body, "m-1")
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error does not wrap ErrBadRequest: %v", err)
			}
			return
		}
		if r.Validate() != nil {
			t.Fatal("accepted a request that does not validate")
		}
	})
}
