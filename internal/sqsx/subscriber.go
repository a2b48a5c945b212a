package sqsx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/rs/zerolog"

	"ecs-deploy/handlers"
)

// DeleteAPI is what the Subscriber calls of SQS.
type DeleteAPI interface {
	VisibilityAPI
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

var _ DeleteAPI = (*sqs.Client)(nil)

// Subscriber wraps watermill-aws's SQS subscriber so that every message the
// handler acks is deleted, also while the daemon drains: watermill-aws
// drops an ack that comes once its Close has begun, and the message would
// come back to be answered again.
//
// The handler gets a copy of each message. Acking the copy deletes the
// message with the daemon's own client, on a context that the shutdown
// does not cancel; nacking it leaves the message as the handler left it
// (in flight until its visibility timeout ends, or visible if the handler
// released it). The original is then nacked, which watermill-aws answers
// with no call, so nothing is deleted twice; until then the inner
// subscriber's worker waits, which bounds how many messages the daemon
// holds, unless the handler lets it go (handlers.WithDetach) to wait for
// a lock. Once Close has begun, a message still arriving is made visible
// again at once for another daemon.
type Subscriber struct {
	Inner    message.Subscriber
	SQS      DeleteAPI
	QueueURL string
	Log      zerolog.Logger

	once    sync.Once
	closing chan struct{}
	wg      sync.WaitGroup
}

func (s *Subscriber) closingCh() chan struct{} {
	s.once.Do(func() { s.closing = make(chan struct{}) })
	return s.closing
}

// Subscribe subscribes the inner subscriber and hands out copies.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Inner.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var forwarding sync.WaitGroup
		for m := range in {
			forwarding.Add(1)
			go func() {
				defer forwarding.Done()
				s.forward(m, out)
			}()
		}
		forwarding.Wait()
		close(out)
	}()
	return out, nil
}

func (s *Subscriber) forward(m *message.Message, out chan<- *message.Message) {
	defer m.Nack()
	closing := s.closingCh()
	select {
	case <-closing:
		s.release(m)
		return
	default:
	}
	cp := m.Copy()
	// The handler may let the inner worker go while it keeps the message
	// (nacking the original makes no call and frees the worker).
	cp.SetContext(handlers.WithDetach(context.WithoutCancel(m.Context()), func() { m.Nack() }))
	select {
	case out <- cp:
	case <-closing:
		s.release(m)
		return
	}
	select {
	case <-cp.Acked():
		s.delete(cp)
	case <-cp.Nacked():
	}
}

func (s *Subscriber) delete(m *message.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.QueueURL),
		ReceiptHandle: aws.String(m.Metadata.Get(handlers.MetaReceiptHandle))})
	if err != nil {
		s.Log.Error().Err(fmt.Errorf("delete message %s: %w", m.UUID, err)).Str("message_id", m.UUID).Msg("ack")
	}
}

func (s *Subscriber) release(m *message.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := (Visibility{SQS: s.SQS, QueueURL: s.QueueURL}).Set(ctx, m, 0); err != nil {
		s.Log.Warn().Err(err).Str("message_id", m.UUID).Msg("release a message received while closing")
	}
}

// Close stops the inner subscriber from receiving, then waits until every
// message handed out was acked or nacked, and its ack carried out.
func (s *Subscriber) Close() error {
	closing := s.closingCh()
	select {
	case <-closing:
		return nil
	default:
		close(closing)
	}
	err := s.Inner.Close()
	s.wg.Wait()
	if err != nil {
		return errors.Join(errors.New("close the SQS subscriber"), err)
	}
	return nil
}
