package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/handlers"
	"ecs-deploy/internal/configsource"
	"ecs-deploy/pipeline"
)

// configLoader returns where the request's config comes from. A config
// whose ConfigAccountID or ConfigRegion is not where this daemon runs
// (account and region) is refused: the lock table, the request records
// and ArtifactDB live in the config account and region, as in the
// original tool, and this daemon reaches them only there.
func configLoader(c Config, account, region string) (handlers.ConfigLoader, error) {
	var src configsource.Source
	switch {
	case c.ConfigRepo != "":
		src = &configsource.Git{Dir: c.ConfigRepo, Path: c.ConfigPath, Branch: c.ConfigBranch, AllowAnyCommit: c.AllowAnyCommit,
			FetchTimeout: c.ConfigFetchTimeout}
	case c.ConfigFile != "":
		src = configsource.File{Path: c.ConfigFile, SHA: c.ConfigSHA}
	}
	return func(ctx context.Context, req events.Request, _ time.Time) (*pipeline.DeployConfig, string, error) {
		var l configsource.Loaded
		var err error
		switch {
		case len(req.Config) > 0:
			l, err = configsource.Inline(req.Config, req.ConfigSHA)
		case src == nil:
			return nil, "", fmt.Errorf("%w: this daemon takes configs only inside requests", handlers.ErrBadConfig)
		default:
			l, err = src.Load(ctx, req.ConfigSHA)
		}
		var ce *pipeline.ConfigError
		if errors.Is(err, configsource.ErrUnknownVersion) || errors.Is(err, configsource.ErrNotOnBranch) || errors.As(err, &ce) {
			return nil, "", fmt.Errorf("%w: %w", handlers.ErrBadConfig, err)
		}
		if err != nil {
			return nil, "", err
		}
		if err := atHome(l.Config, account, region); err != nil {
			return nil, "", fmt.Errorf("%w: %w", handlers.ErrBadConfig, err)
		}
		return l.Config, l.SHA, nil
	}, nil
}

// atHome checks that the config keeps its state where the daemon runs.
func atHome(cfg *pipeline.DeployConfig, account, region string) error {
	if cfg.ConfigAccountID != "" && account != "" && cfg.ConfigAccountID != account {
		return fmt.Errorf("the config's ConfigAccountID is %s, but this daemon runs in account %s: its locks, request records and ArtifactDB are in the config account, so run the daemon there",
			cfg.ConfigAccountID, account)
	}
	if cfg.ConfigRegion != "" && region != "" && cfg.ConfigRegion != region {
		return fmt.Errorf("the config's ConfigRegion is %s, but this daemon runs in %s (AWS_REGION): its locks, request records and ArtifactDB are in the config region, so run the daemon there",
			cfg.ConfigRegion, region)
	}
	return nil
}
