package handlers_test

import (
	"errors"
	"testing"

	"ecs-deploy/handlers"
)

// FuzzDecodeEvent feeds the Slack and ArtifactDB roles' event decoder
// arbitrary bodies: it never panics, and what it refuses is a rejection
// (the dead-letter queue), never a retry.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"schema":"ecs-deploy.event/v1","type":"deploy.succeeded","deploy_id":"d-1","app":"shop","env":"prod"}`))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"schema\":\"ecs-deploy.event/v1\",\"type\":\"deploy.failed\",\"deploy_id\":\"d\"}"}`))
	f.Add([]byte(`{"Type":"Notification","Message":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := handlers.DecodeEvent(body)
		if err != nil {
			if !errors.Is(err, handlers.ErrRejected) {
				t.Fatalf("a bad body is not a rejection: %v", err)
			}
			return
		}
		if e.Type == "" || e.DeployID == "" {
			t.Fatalf("decoded an event without a type or deploy id: %+v", e)
		}
	})
}
