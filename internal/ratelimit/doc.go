// Package ratelimit keeps a daemon's ECS calls under AWS's request rates.
// ECS throttles each account and region with token buckets (a burst, then
// a sustained rate, per kind of action); every deploy of one daemon to an
// account and region draws on the same client-side buckets, set a little
// under AWS's, so a hundred deploys at once wait their turn instead of
// meeting ThrottlingException.
package ratelimit
