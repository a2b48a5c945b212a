package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/handlers"
	"ecs-deploy/internal/appstatus"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/statuspage"
	"ecs-deploy/pipeline"
)

// statusPage is the read-only page served on the health address: what
// serves where, read with the deploy role's clients (each environment
// account's, without the identity check every read) and lock table, for
// the apps of the current deploy config, and the recent deploys' steps.
func (m *Main) statusPage(loader handlers.ConfigLoader, clients pipeline.ClientsFunc, store records.Store) *statuspage.Page {
	current := &currentConfig{load: loader, every: 30 * time.Second}
	read := &cachedStatus{every: 5 * time.Second, read: func(ctx context.Context) ([]appstatus.AppEnv, error) {
		cfg, err := current.get(ctx)
		if err != nil {
			return nil, err
		}
		r := appstatus.Reader{Config: cfg, Clients: clients, Locker: m.locker, Records: store}
		return r.ReadAll(ctx, "", "")
	}}
	return &statuspage.Page{Recent: m.recent, Title: "ecs-deploy " + m.Config.Owner, Status: read.get}
}

// cachedStatus reads AWS at most every so often, however many people
// watch the page: the deploys share the account's ECS request budget.
type cachedStatus struct {
	every time.Duration
	read  func(ctx context.Context) ([]appstatus.AppEnv, error)

	mu   sync.Mutex
	apps []appstatus.AppEnv
	err  error
	at   time.Time
}

func (c *cachedStatus) get(ctx context.Context) ([]appstatus.AppEnv, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.every {
		return c.apps, c.err
	}
	c.apps, c.err = c.read(ctx)
	c.at = time.Now()
	return c.apps, c.err
}

// currentConfig keeps the deploy config the page reads, loading it again
// at most every so often (a git source fetches).
type currentConfig struct {
	load  handlers.ConfigLoader
	every time.Duration

	mu     sync.Mutex
	cfg    *pipeline.DeployConfig
	loaded time.Time
}

func (c *currentConfig) get(ctx context.Context) (*pipeline.DeployConfig, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg != nil && time.Since(c.loaded) < c.every {
		return c.cfg, nil
	}
	cfg, _, err := c.load(ctx, events.Request{}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("the current deploy config: %w", err)
	}
	c.cfg, c.loaded = cfg, time.Now()
	return cfg, nil
}
