package awsim

import (
	"sync"
	"time"
)

// clock maps real time to simulated time: sim = base + (real - realBase) * scale.
type clock struct {
	mu       sync.Mutex
	real     func() time.Time
	realBase time.Time
	simBase  time.Time
	scale    float64
}

func newClock(real func() time.Time, scale float64) *clock {
	now := real()
	return &clock{real: real, realBase: now, simBase: now, scale: scale}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *clock) nowLocked() time.Time {
	elapsed := c.real().Sub(c.realBase)
	return c.simBase.Add(time.Duration(float64(elapsed) * c.scale))
}

// SetScale changes the speed from now on; time already passed stays.
func (c *clock) SetScale(scale float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.simBase = c.nowLocked()
	c.realBase = c.real()
	c.scale = scale
}

// Scale returns the current speed.
func (c *clock) Scale() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scale
}

// Advance jumps simulated time forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.simBase = c.simBase.Add(d)
}

// Real converts a simulated duration to the real one at the current speed.
func (c *clock) Real(d time.Duration) time.Duration {
	s := c.Scale()
	if s == 0 {
		return 0
	}
	return time.Duration(float64(d) / s)
}
