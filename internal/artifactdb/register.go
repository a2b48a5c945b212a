package artifactdb

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"ecs-deploy/pipeline"
)

// Registration is a build CI registers:
// `enqueue artifact register -project P -build N -image IMAGE -tag SHA=...`.
type Registration struct {
	Project string
	Build   int
	Image   string
	Tags    map[string]string
}

// Validate reports every missing or bad field.
func (r Registration) Validate() error {
	var errs []error
	if r.Project == "" {
		errs = append(errs, errors.New("-project is required"))
	}
	if r.Build <= 0 {
		errs = append(errs, errors.New("-build must be a positive build number"))
	}
	if r.Image == "" {
		errs = append(errs, errors.New("-image is required"))
	}
	if r.Tags["SHA"] == "" {
		errs = append(errs, errors.New("-tag SHA=<commit> is required: deploys find builds by it"))
	}
	return errors.Join(errs...)
}

// Artifact is the registration as the stores keep it.
func (r Registration) Artifact() pipeline.Artifact {
	return pipeline.Artifact{BuildNumber: r.Build, Value: r.Image, Tags: r.Tags}
}

// tagFlags collects repeated -tag KEY=VALUE flags.
type tagFlags map[string]string

func (t tagFlags) String() string { return fmt.Sprint(map[string]string(t)) }

func (t tagFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("tag %q is not KEY=VALUE", s)
	}
	t[k] = v
	return nil
}

// ParseRegistration reads the arguments of `artifact register`.
func ParseRegistration(args []string, stderr io.Writer) (Registration, error) {
	r := Registration{Tags: map[string]string{}}
	fs := flag.NewFlagSet("artifact register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&r.Project, "project", "", "ArtifactDB project")
	fs.IntVar(&r.Build, "build", 0, "build number")
	fs.StringVar(&r.Image, "image", "", "the artifact: an image reference")
	fs.Var(tagFlags(r.Tags), "tag", "a tag KEY=VALUE; repeat for more (SHA=<commit> is required)")
	if err := fs.Parse(args); err != nil {
		return Registration{}, err
	}
	if fs.NArg() > 0 {
		return Registration{}, fmt.Errorf("artifact register: unexpected arguments %q", fs.Args())
	}
	if err := r.Validate(); err != nil {
		return Registration{}, fmt.Errorf("artifact register: %w", err)
	}
	return r, nil
}

// RegisterCommand runs `artifact register` against a store and says what
// it registered on stdout.
func RegisterCommand(ctx context.Context, store Registrar, args []string, stdout, stderr io.Writer) error {
	r, err := ParseRegistration(args, stderr)
	if err != nil {
		return err
	}
	if err := store.Register(ctx, r.Project, r.Artifact()); err != nil {
		return fmt.Errorf("artifact register: %w", err)
	}
	fmt.Fprintf(stdout, "registered build %d of %s: %s\n", r.Build, r.Project, r.Image)
	return nil
}
