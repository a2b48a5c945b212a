package events

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	good := `{"schema":"ecs-deploy.request/v1","request_id":"r-1","app":"shop","env":"prod","sha":"abc123","config_sha":"def456","requested_by":"ci"}`
	r, err := DecodeRequest([]byte(good))
	if err != nil || r.App != "shop" || r.EffectiveMode() != ModeDeploy {
		t.Fatalf("good request: %+v %v", r, err)
	}
	cases := map[string]struct{ body, want string }{
		"not JSON":       {`deploy shop please`, "not valid JSON"},
		"empty":          {``, "empty body"},
		"unknown field":  {strings.Replace(good, `"app"`, `"colour":"red","app"`, 1), `unknown field "colour"`},
		"missing app":    {strings.Replace(good, `"app":"shop",`, ``, 1), `app ""`},
		"wrong schema":   {strings.Replace(good, `request/v1`, `request/v9`, 1), "schema"},
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
			_, err := DecodeRequest([]byte(c.body))
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to say %q", err, c.want)
			}
		})
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
		r, err := DecodeRequest(body)
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
