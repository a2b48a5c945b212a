package awsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"ecs-deploy/internal/awsproto"
	"ecs-deploy/internal/faults"
)

const (
	ecsTarget   = "AmazonEC2ContainerServiceV20141113"
	elbVersion  = "2015-12-01"
	elbXMLNS    = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
	cwService   = "GraniteServiceVersion20100801"
	cwVersion   = "2010-08-01"
	cwXMLNS     = "http://monitoring.amazonaws.com/doc/2010-08-01/"
	controlPath = "/_awsim/"
)

// Server is the emulator. Its zero value is not usable; call New.
type Server struct {
	cfg    Config
	clock  *clock
	cloud  *cloud
	faults *faults.Injector
	http   http.Handler

	mu     sync.Mutex
	now    time.Time // simulated present, as far as events are applied
	events eventQueue
	seq    uint64
	rng    *rand.Rand
	ids    int

	clusters  map[string]*cluster // by name
	taskDefs  map[string][]*taskDefinition
	services  map[string]*service // by ARN
	taskSets  map[string]*taskSet // by ARN
	tasks     map[string]*task    // by ARN
	lbs       map[string]*loadBalancer
	tgs       map[string]*targetGroup
	listeners map[string]*listener
	rules     map[string]*rule
	alarms    map[string]*alarm // by name

	taskSetFaults []TaskSetFault
	// pageLimit, above 0, caps every page a paged call answers.
	pageLimit int
	// throttle, when set, throttles ECS requests (SetThrottling).
	throttle    *throttle
	consistency consistency
	calls       []Call
	downtime    downtimeRecord
}

// New returns an emulator with no resources, for the account
// Config.AccountID; Account gives the emulators of other accounts.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &cloud{servers: map[string]*Server{}, keys: map[string]principal{}, fallback: cfg.AccountID}
	for key, account := range cfg.AccessKeys {
		c.keys[key] = principal{account: account, arn: "arn:aws:iam::" + account + ":user/" + key, userID: "AIDA" + key}
	}
	s := newServer(cfg, newClock(cfg.Now, cfg.TimeScale), c)
	c.servers[cfg.AccountID] = s
	c.first = s
	return s, nil
}

// newServer returns the emulator of one account of cloud c.
func newServer(cfg Config, clk *clock, c *cloud) *Server {
	s := &Server{
		cfg:       cfg,
		clock:     clk,
		cloud:     c,
		faults:    faults.NewInjector(cfg.Seed),
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1)),
		clusters:  map[string]*cluster{},
		taskDefs:  map[string][]*taskDefinition{},
		services:  map[string]*service{},
		taskSets:  map[string]*taskSet{},
		tasks:     map[string]*task{},
		lbs:       map[string]*loadBalancer{},
		tgs:       map[string]*targetGroup{},
		listeners: map[string]*listener{},
		rules:     map[string]*rule{},
		alarms:    map[string]*alarm{},
	}
	s.now = s.clock.Now()
	mux := http.NewServeMux()
	mux.Handle(controlPath, s.controlHandler())
	mux.Handle("/", s.faults.Middleware(http.HandlerFunc(s.serveAPI)))
	s.http = s.logCalls(mux)
	return s
}

// ServeHTTP serves the AWS APIs and the controls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.http.ServeHTTP(w, r) }

// Faults returns the injector for API faults (throttling, 5xx, latency,
// dropped connections), applied before any call is served, whichever
// account it is for.
func (s *Server) Faults() *faults.Injector { return s.faults }

// LimitPages makes every paged answer (ECS lists, ELB describes, CloudWatch
// alarms) hold at most n items, as AWS may answer fewer than asked for;
// clients must follow the next token or marker. 0 lifts the limit.
func (s *Server) LimitPages(n int) error {
	if n < 0 {
		return fmt.Errorf("page limit %d is negative", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageLimit = n
	return nil
}

// Now returns the simulated time.
func (s *Server) Now() time.Time { return s.clock.Now() }

// SetTimeScale changes how many simulated seconds pass per real second.
func (s *Server) SetTimeScale(scale float64) error {
	if scale < 0 {
		return fmt.Errorf("time scale %v is negative", scale)
	}
	s.clock.SetScale(scale)
	return nil
}

// Advance moves simulated time forward by d and applies what fell due.
func (s *Server) Advance(d time.Duration) {
	s.clock.Advance(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
}

// RealDuration converts a simulated duration to real time at the current
// scale.
func (s *Server) RealDuration(sim time.Duration) time.Duration { return s.clock.Real(sim) }

// Timings returns the simulated durations in force.
func (s *Server) Timings() Timings { return s.cfg.Timings }

// lock takes the state lock and applies what fell due; the caller unlocks.
func (s *Server) lock() {
	s.mu.Lock()
	s.advance()
}

func (s *Server) unlock() {
	s.refresh()
	s.mu.Unlock()
}

type apiHandler func(s *Server, body []byte) (any, error)

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	op, form, err := awsproto.Identify(r)
	if err != nil {
		awsproto.WriteError(w, op.Protocol, "", awsproto.Errorf("SerializationException", "read request: %v", err))
		return
	}
	_, who := s.cloud.caller(r)
	switch {
	case !who.expires.IsZero() && s.clock.Now().After(who.expires):
		awsproto.WriteError(w, op.Protocol, "", awsproto.Errorf("ExpiredTokenException", "The security token included in the request is expired"))
		return
	case op.Protocol == awsproto.ProtocolQuery && op.Target == stsVersion:
		s.serveSTS(w, op.Name, form, who)
		return
	case who.account != s.cfg.AccountID:
		other, err := s.Account(who.account)
		if err != nil {
			awsproto.WriteError(w, op.Protocol, "", awsproto.Errorf("UnrecognizedClientException", "The security token included in the request is invalid: %v", err))
			return
		}
		other.serveAPI(w, r)
		return
	}
	switch {
	case op.Protocol == awsproto.ProtocolJSON && op.Target == ecsTarget:
		s.serveECS(w, r, op.Name)
	case op.Protocol == awsproto.ProtocolQuery && op.Target == cwVersion:
		s.serveCloudWatchQuery(w, op.Name, form)
	case op.Protocol == awsproto.ProtocolQuery && (op.Target == elbVersion || op.Target == ""):
		s.serveELB(w, op.Name, form)
	case (op.Protocol == awsproto.ProtocolCBOR || op.Protocol == awsproto.ProtocolJSON) && op.Target == cwService:
		s.serveCloudWatch(w, r, op.Protocol, op.Name)
	case op.Protocol == awsproto.ProtocolJSON:
		awsproto.WriteError(w, op.Protocol, "", awsproto.Errorf("UnknownOperationException", "service %q is not emulated", op.Target))
	case op.Protocol == awsproto.ProtocolCBOR:
		awsproto.WriteError(w, op.Protocol, "", awsproto.Errorf("UnknownOperationException", "service %q is not emulated", op.Target))
	case op.Protocol == awsproto.ProtocolQuery:
		awsproto.WriteError(w, op.Protocol, "", awsproto.Errorf("InvalidAction", "API version %q is not emulated", op.Target))
	default:
		awsproto.WriteError(w, awsproto.ProtocolQuery, "", awsproto.Errorf("MissingAction", "request names no operation: no X-Amz-Target header, Smithy-Protocol path or Action parameter"))
	}
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", awsproto.RequestID())
	_ = json.NewEncoder(w).Encode(v)
}

// newID returns n random hex digits from the seeded generator.
func (s *Server) newID(n int) string {
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "%016x", s.rng.Uint64())
	}
	return b.String()[:n]
}

func (s *Server) arn(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, s.cfg.Region, s.cfg.AccountID, resource)
}
