package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"ecs-deploy/handlers"
	"ecs-deploy/internal/statuspage"
	"ecs-deploy/pipeline"
)

// Main is the daemon: ParseFlags, Run, then Close.
type Main struct {
	Config Config

	stdout, stderr io.Writer
	// getenv reads the settings the environment alone gives: the Slack
	// webhook or token, CloudTamer's login. Default os.Getenv.
	getenv     func(string) string
	log        zerolog.Logger
	server     *http.Server
	listener   net.Listener
	router     *message.Router
	deploy     *handlers.Deploy
	locker     *pipeline.Locker
	recent     *statuspage.Recent
	page       *statuspage.Page
	routerDone chan error
	closing    chan struct{}
	closeOnce  sync.Once
	// kill, closed when the shutdown budget is nearly spent, kills running
	// commands.
	kill     chan struct{}
	killOnce sync.Once
	// stopSweep ends the sweeper of unpublished final events.
	stopSweep context.CancelFunc
}

// ParseFlags reads the configuration from args and the environment.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	m.getenv = getenv
	return m.Config.Parse(args, getenv, m.stderr)
}

// Addr is the address of the health and metrics endpoint once running.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Run starts the roles -roles names and returns once they consume their
// queues: deploy (requests), slack and artifactdb (events), each with its
// own queue, dead-letter queue and middleware, on one router.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	if m.getenv == nil {
		m.getenv = os.Getenv
	}
	m.closing = make(chan struct{})
	m.kill = make(chan struct{})
	m.log = newLogger(m.stderr, c.LogFormat, c.LogLevel)
	ctx = m.log.WithContext(ctx)

	h, err := loadHome(ctx)
	if err != nil {
		return err
	}
	topicArn, err := m.topicArn(ctx, h)
	if err != nil {
		return err
	}
	setup := &roleSetup{home: h, topicArn: topicArn, reg: prometheus.NewRegistry()}
	roles := c.RoleSet()
	var consumers []handlers.Consumer
	for _, r := range []struct {
		name  string
		start func(context.Context, *roleSetup) (handlers.Consumer, error)
	}{{roleDeploy, m.deployRole}, {roleSlack, m.slackRole}, {roleArtifactDB, m.artifactDBRole}} {
		if !roles[r.name] {
			continue
		}
		k, err := r.start(ctx, setup)
		if err != nil {
			return fmt.Errorf("%s role: %w", r.name, err)
		}
		consumers = append(consumers, k)
	}
	m.router, err = handlers.NewRouter(handlers.RouterConfig{Consumers: consumers, Log: m.log, CloseTimeout: c.ShutdownTimeout})
	if err != nil {
		return err
	}
	if err := m.serveHTTP(setup.reg); err != nil {
		return err
	}
	m.routerDone = make(chan error, 1)
	go func() { m.routerDone <- m.router.Run(context.WithoutCancel(ctx)) }()
	select {
	case <-m.router.Running():
	case err := <-m.routerDone:
		return fmt.Errorf("router: %w", err)
	}
	m.log.Info().Str("roles", c.Roles).Str("listen", m.Addr()).Msg("running")
	return nil
}

// KillCommands kills running commands at once.
func (m *Main) KillCommands() {
	if m.kill != nil {
		m.killOnce.Do(func() { close(m.kill) })
	}
}

// Close shuts down within -shutdown-timeout, the one budget: it stops
// taking requests, lets waiting requests go back to the queue, and asks
// running deploys to stop at their next safe point (their commands get
// SIGTERM). Messages finished meanwhile are still acked. When the budget
// is nearly spent (5s before its end, or a fifth of it if shorter),
// commands still running are killed; deploys that are not at a safe point
// by the end keep their lock until it lapses, and another daemon resumes
// them.
func (m *Main) Close() error {
	var errs []error
	m.closeOnce.Do(func() {
		budget := m.Config.ShutdownTimeout
		if budget == 0 {
			budget = 25 * time.Second
		}
		deadline := time.Now().Add(budget)
		killAt := budget - min(5*time.Second, budget/5)
		killTimer := time.AfterFunc(killAt, func() {
			m.log.Warn().Msg("shutdown budget nearly spent: killing running commands")
			m.KillCommands()
		})
		defer killTimer.Stop()
		if m.closing != nil {
			close(m.closing)
		}
		if m.deploy != nil {
			m.deploy.Stop()
		}
		if m.router != nil {
			if err := m.router.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if m.stopSweep != nil {
			m.stopSweep()
		}
		if m.locker != nil {
			// The router has waited for the handlers: their locks are
			// released or abandoned by now, unless a deploy is stuck.
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			errs = append(errs, m.locker.Close(ctx))
			cancel()
		}
		if m.server != nil {
			// Health checks and the status page get a second to finish;
			// connections still open then (a browser watching the page)
			// are closed.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := m.server.Shutdown(ctx); err != nil {
				_ = m.server.Close()
			}
			cancel()
		}
		m.log.Info().Msg("stopped")
	})
	return errors.Join(errs...)
}
