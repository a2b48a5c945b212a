// Package faults injects the failures AWS clients must survive: throttling,
// 5xx answers, latency and dropped connections, chosen per operation.
//
// An Injector is used as HTTP middleware (the emulator wraps itself in one)
// or, through NewProxy, as a reverse proxy in front of any endpoint, such as
// goaws or dynalite. Errors are written in the protocol the request spoke, so
// the SDK's retryer treats them as it would the real service's.
package faults
