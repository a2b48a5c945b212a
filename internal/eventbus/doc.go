// Package eventbus carries deploy events over SNS: Publisher sends them to
// the events topic, and Follower reads them back through a temporary SQS
// queue subscribed to the topic, for `enqueue -wait` and for tests.
package eventbus
