package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/internal/artifactdb"
)

// runArtifact runs `enqueue artifact register -project P -build N -image
// IMAGE -tag SHA=... [-artifacts-table T | -artifacts FILE]`: CI registers
// a build in the ArtifactDB store the daemons read, so deploys can name it
// by its SHA tag. The store flags fall back to the daemon's variables
// (ECS_DEPLOY_ARTIFACTS_TABLE, ECS_DEPLOY_ARTIFACTS). Teams with the
// artifact-db tool register builds with it instead.
func runArtifact(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 || args[0] != "register" {
		return exitUsage, errors.New("usage: enqueue artifact register -project P -build N -image IMAGE -tag SHA=<commit> [-artifacts-table T | -artifacts FILE]")
	}
	var table, file string
	// parsed says the arguments were read and found complete.
	parsed := false
	sf := artifactdb.StoreFlags{
		Add: func(fs *flag.FlagSet) {
			fs.StringVar(&table, "artifacts-table", getenv("ECS_DEPLOY_ARTIFACTS_TABLE"), "ArtifactDB store: the DynamoDB table of builds (env ECS_DEPLOY_ARTIFACTS_TABLE)")
			fs.StringVar(&file, "artifacts", getenv("ECS_DEPLOY_ARTIFACTS"), "ArtifactDB store: a JSON file of artifacts per project (env ECS_DEPLOY_ARTIFACTS)")
		},
		Open: func(ctx context.Context) (artifactdb.Registrar, error) {
			parsed = true
			switch {
			case table != "" && file != "":
				return nil, usageError{errors.New("-artifacts-table and -artifacts exclude each other")}
			case table != "":
				cfg, err := awsconfig.LoadDefaultConfig(ctx)
				if err != nil {
					return nil, fmt.Errorf("AWS configuration: %w", err)
				}
				return artifactdb.Dynamo{DB: dynamodb.NewFromConfig(cfg), Table: table}, nil
			case file != "":
				return artifactdb.File{Path: file}, nil
			}
			return nil, usageError{errors.New("name the ArtifactDB store: -artifacts-table (ECS_DEPLOY_ARTIFACTS_TABLE) or -artifacts (ECS_DEPLOY_ARTIFACTS)")}
		},
	}
	err := artifactdb.RegisterCommandWith(ctx, sf, args[1:], stdout, stderr)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK, nil
	case !parsed, errors.As(err, &usage):
		// The arguments are wrong: nothing was registered.
		return exitUsage, err
	}
	return exitFailed, err
}

// usageError is a bad choice of store: the command's usage, not the store,
// is at fault.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
