package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"ecs-deploy/internal/faults"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/testbed"
	"ecs-deploy/pipeline"
)

// Access keys: the daemons sign with DaemonKey, the rig's own clients with
// RigKey, so Calls tells their calls apart.
const (
	DaemonKey = "AKIDRIGDAEMON"
	RigKey    = "AKIDRIGSELF"
	// daemonSecret is the daemons' AWS secret; it is not a real one.
	daemonSecret = "rig-daemon-secret"
)

// Names of the resources every rig has.
const (
	TopicName     = "deploy-events"
	LockTable     = "DeployLock"
	RequestsTable = "DeployRequests"
)

// Config sets up a Rig.
type Config struct {
	// Log receives progress lines. Default io.Discard.
	Log io.Writer
	// Dir is where the rig keeps its files and logs. Default: a new
	// temporary folder, removed by Close.
	Dir string
}

// Rig is goaws and dynalite with fronts, the daemon binary, and the
// daemons and emulators started on it.
type Rig struct {
	// Dir holds the logs and files.
	Dir string
	// DaemonBin is the daemon binary, built from ./cmd/daemon.
	DaemonBin string
	// Calls logs every call any front received.
	Calls *Calls
	// Events holds every event published.
	Events *EventTap
	// Locks is the history of the deploy locks.
	Locks *LockHistory
	// DynamoDBFaults and SQSFaults are injected between the daemons and
	// dynalite and goaws. Empty at first.
	DynamoDBFaults, SQSFaults *faults.Injector
	// SQS, SNS and DynamoDB are the rig's own clients: SQS and SNS
	// through the front (so sends are timed), DynamoDB straight to
	// dynalite.
	SQS      *sqs.Client
	SNS      *sns.Client
	DynamoDB *dynamodb.Client
	// TopicArn is the events topic.
	TopicArn string

	log         io.Writer
	ownDir      bool
	goaws, dyn  *testbed.Process
	goawsFront  string
	dynamoFront string
	mu          sync.Mutex
	servers     []*http.Server
	daemons     []*Daemon
	closeOnce   sync.Once
}

// New builds the daemon, starts goaws and dynalite with their fronts, and
// creates the topic and the tables. Close stops it all, also when New
// fails halfway.
func New(ctx context.Context, cfg Config) (r *Rig, err error) {
	r = &Rig{Dir: cfg.Dir, log: cfg.Log, Calls: &Calls{}, Events: newEventTap(),
		DynamoDBFaults: faults.NewInjector(11), SQSFaults: faults.NewInjector(13)}
	if r.log == nil {
		r.log = io.Discard
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.Dir == "" {
		if r.Dir, err = os.MkdirTemp("", "ecs-deploy-rig"); err != nil {
			return r, err
		}
		r.ownDir = true
	}
	if err := r.build(ctx); err != nil {
		return r, err
	}
	if r.goaws, err = testbed.StartGoaws(r.Dir); err != nil {
		return r, err
	}
	if r.dyn, err = testbed.StartDynalite(r.Dir); err != nil {
		return r, err
	}
	cfgFor := func(endpoint string) aws.Config {
		return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(RigKey, "rig-secret", ""),
			BaseEndpoint: aws.String(endpoint)}
	}
	r.DynamoDB = dynamodb.NewFromConfig(cfgFor(r.dyn.Endpoint))
	locker, err := pipeline.NewLocker(r.DynamoDB, pipeline.LockConfig{Table: LockTable, Owner: "rig-reader"})
	if err != nil {
		return r, err
	}
	r.Locks = &LockHistory{table: LockTable, db: r.DynamoDB}
	h, err := front(r.goaws.Endpoint, r.Calls, r.SQSFaults, &goawsFront{tap: r.Events, sent: map[string]time.Time{}, queues: map[string]bool{}})
	if err != nil {
		return r, err
	}
	if r.goawsFront, err = r.Serve(h); err != nil {
		return r, err
	}
	if h, err = front(r.dyn.Endpoint, r.Calls, r.DynamoDBFaults, r.Locks); err != nil {
		return r, err
	}
	if r.dynamoFront, err = r.Serve(h); err != nil {
		return r, err
	}
	r.SQS, r.SNS = sqs.NewFromConfig(cfgFor(r.goawsFront)), sns.NewFromConfig(cfgFor(r.goawsFront))
	topic, err := r.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(TopicName)})
	if err != nil {
		return r, fmt.Errorf("create topic %s: %w", TopicName, err)
	}
	r.TopicArn = aws.ToString(topic.TopicArn)
	if err := locker.CreateTable(ctx, r.DynamoDB); err != nil {
		return r, err
	}
	if err := (records.Store{DB: r.DynamoDB, Table: RequestsTable}).CreateTable(ctx, r.DynamoDB); err != nil && !errors.Is(err, records.ErrNoTTL) {
		return r, err
	}
	return r, nil
}

// Logf writes a progress line.
func (r *Rig) Logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// build compiles the daemon into the rig's folder.
func (r *Rig) build(ctx context.Context) error {
	root, err := testbed.Root()
	if err != nil {
		return err
	}
	r.DaemonBin = filepath.Join(r.Dir, "daemon")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", r.DaemonBin, "./cmd/daemon")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the daemon: %w\n%s", err, out)
	}
	return nil
}

// Serve serves h on a free loopback port until Close, and returns its URL.
func (r *Rig) Serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.servers = append(r.servers, srv)
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close kills every daemon still running, stops the servers, goaws and
// dynalite, and removes the rig's folder if it made it (one given in
// Config.Dir is kept, with the logs).
func (r *Rig) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		daemons := append([]*Daemon(nil), r.daemons...)
		servers := append([]*http.Server(nil), r.servers...)
		r.mu.Unlock()
		for _, d := range daemons {
			d.Kill()
		}
		for _, s := range servers {
			_ = s.Close()
		}
		for _, p := range []*testbed.Process{r.goaws, r.dyn} {
			if p != nil {
				p.Stop()
			}
		}
		if r.ownDir && r.Dir != "" {
			_ = os.RemoveAll(r.Dir)
		}
	})
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
