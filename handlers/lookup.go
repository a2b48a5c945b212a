package handlers

import (
	"fmt"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// job is a request that passed decode and authorize, with its record and,
// once loaded, its config.
type job struct {
	req events.Request
	// rec is the request's record, claimed by this request.
	rec records.Record
	// cfg and configSHA are the deploy config; project is the app's
	// ArtifactDB project.
	cfg       *pipeline.DeployConfig
	configSHA string
	project   string
	// new says this message claimed the record: the request is new.
	new bool
}

// lookUp claims the request's record. A request ID whose record is a
// finished request with the same hash is a duplicate: its outcome is told
// again. One whose record holds another request is refused. One whose
// record is the same request, not finished, is a redelivery: it goes on.
func (h *Deploy) lookUp(in *incoming, req events.Request) (*job, *outcome, error) {
	sum := req.Summary()
	rec := records.Record{RequestID: req.RequestID, App: req.App, Env: req.Env, Hash: req.Hash(), Request: &sum, Sender: in.sender}
	existing, claimed, err := h.Records.Claim(in.ctx, rec)
	if err != nil {
		return nil, nil, err
	}
	if claimed {
		return &job{req: req, rec: existing, new: true}, nil, nil
	}
	if existing.Hash != "" && existing.Hash != rec.Hash {
		what := "another request"
		if existing.Request != nil {
			what = existing.Request.Difference(req)
		}
		o := rejected(fmt.Errorf("request_id %s was used for a different request (%s): send this one under a new request_id", req.RequestID, what))
		return nil, &o, nil
	}
	if existing.Done() {
		return nil, &outcome{kind: "duplicate", again: &existing}, nil
	}
	existing.Hash, existing.Request, existing.Sender = rec.Hash, rec.Request, rec.Sender
	return &job{req: req, rec: existing}, nil, nil
}
