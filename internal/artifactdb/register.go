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

// ParseRegistration reads the arguments of `artifact register`; more adds
// flags of the caller's to the same set, such as where the store is.
func ParseRegistration(args []string, stderr io.Writer, more ...func(fs *flag.FlagSet)) (Registration, error) {
	r := Registration{Tags: map[string]string{}}
	fs := flag.NewFlagSet("artifact register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, add := range more {
		add(fs)
	}
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
	return RegisterCommandWith(ctx, StoreFlags{Open: func(context.Context) (Registrar, error) { return store, nil }}, args, stdout, stderr)
}

// StoreFlags let a command's own flags say which store `artifact register`
// writes to.
type StoreFlags struct {
	// Add declares the flags beside register's own. Optional.
	Add func(fs *flag.FlagSet)
	// Open opens the store once the flags are parsed. Required.
	Open func(ctx context.Context) (Registrar, error)
}

// RegisterCommandWith runs `artifact register` against the store sf's flags
// name and says what it registered on stdout. -h gives flag.ErrHelp.
func RegisterCommandWith(ctx context.Context, sf StoreFlags, args []string, stdout, stderr io.Writer) error {
	var more []func(*flag.FlagSet)
	if sf.Add != nil {
		more = append(more, sf.Add)
	}
	r, err := ParseRegistration(args, stderr, more...)
	if err != nil {
		return err
	}
	store, err := sf.Open(ctx)
	if err != nil {
		return fmt.Errorf("artifact register: %w", err)
	}
	if err := store.Register(ctx, r.Project, r.Artifact()); err != nil {
		return fmt.Errorf("artifact register: %w", err)
	}
	fmt.Fprintf(stdout, "registered build %d of %s: %s\n", r.Build, r.Project, r.Image)
	return nil
}
