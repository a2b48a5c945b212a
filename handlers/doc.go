// Package handlers adapts messages to the pipeline: the watermill handler
// that runs deploy requests from the queue, and the middleware stack around
// it. Handlers decode, authorize and route; the pipeline does the work.
package handlers
