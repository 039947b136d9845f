package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/backoff"
	"github.com/jea/cliente/topics"
)

// seedParallelism is how many cliente.crear requests are in flight while
// seeding: enough to finish a few hundred quickly, few enough not to look
// like a load test of the command path.
const seedParallelism = 8

// errCollision means the DNI already belongs to a customer (left by an
// earlier run): the seeder draws another one.
var errCollision = errors.New("DNI already taken")

// seeder creates the customers the scenarios read, through the same
// request/reply path a sales service would use for commands.
type seeder struct {
	req     *topics.Requester
	runID   string
	timeout time.Duration // per attempt

	mu     sync.Mutex
	rng    *rand.Rand
	issued map[string]bool
}

func newSeeder(req *topics.Requester, runID string, timeout time.Duration, now time.Time) *seeder {
	seed := uint64(now.UnixNano())
	return &seeder{
		req: req, runID: runID, timeout: timeout,
		rng:    rand.New(rand.NewPCG(seed, seed>>32|1)),
		issued: map[string]bool{},
	}
}

// nextDNI draws an 8-digit DNI not yet used by this run. Draws from a
// time-seeded generator make runs on one database unlikely to collide;
// collisions that still happen are answered "conflict" and redrawn.
func (s *seeder) nextDNI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		dni := fmt.Sprintf("%08d", s.rng.IntN(100_000_000))
		if !s.issued[dni] {
			s.issued[dni] = true
			return dni
		}
	}
}

// seedResult says how seeding went, for the report.
type seedResult struct {
	Customers   []handlers.Cliente
	Collisions  int
	FirstAnswer time.Duration // until the service answered at all
	Took        time.Duration
}

// seed creates count active customers. The first create is retried until
// the service answers or readyWait passes (the worker may still be joining
// its consumer group); the rest then run seedParallelism at a time, all
// within seedWait. More than count collisions means something other than
// chance is wrong, and fails.
func (s *seeder) seed(ctx context.Context, count int, readyWait, seedWait time.Duration) (seedResult, error) {
	start := time.Now()
	var res seedResult
	readyCtx, cancel := context.WithTimeout(ctx, readyWait)
	first, collisions, err := s.createUnique(readyCtx, count)
	cancel()
	if err != nil {
		return res, fmt.Errorf("the customer service did not answer a first cliente.crear within %v: %w", readyWait, err)
	}
	res.FirstAnswer = time.Since(start)

	ctx, cancel = context.WithTimeout(ctx, seedWait)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		jobs = make(chan struct{})
	)
	res.Customers = append(make([]handlers.Cliente, 0, count), first)
	res.Collisions = collisions
	for range seedParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				c, n, err := s.createUnique(ctx, count)
				mu.Lock()
				res.Collisions += n
				if err != nil {
					errs = append(errs, err)
				} else {
					res.Customers = append(res.Customers, c)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for range count - 1 {
		select {
		case jobs <- struct{}{}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	res.Took = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("seeding: %w", err)
	}
	if len(res.Customers) != count {
		return res, fmt.Errorf("seeding: %d of %d customers created within %v: %w", len(res.Customers), count, seedWait, ctx.Err())
	}
	return res, nil
}

// createUnique creates one customer, drawing a new DNI on each collision,
// at most maxCollisions times. It returns the collisions it met.
func (s *seeder) createUnique(ctx context.Context, maxCollisions int) (handlers.Cliente, int, error) {
	for collisions := 0; ; collisions++ {
		c, err := s.create(ctx, s.nextDNI())
		if !errors.Is(err, errCollision) {
			return c, collisions, err
		}
		if collisions >= maxCollisions {
			return handlers.Cliente{}, collisions, fmt.Errorf("%d DNI collisions in a row: %w", collisions+1, err)
		}
	}
}

// create sends cliente.crear for dni until it gets a definite answer or ctx
// ends. A retry carries the same idempotency key, so a request that was
// applied but whose reply was lost returns the same customer instead of a
// conflict.
func (s *seeder) create(ctx context.Context, dni string) (handlers.Cliente, error) {
	nombre, apellido := "Bench", "Cliente"
	email := fmt.Sprintf("bench.%s.%s@example.pe", s.runID, dni)
	call := topics.Crear(handlers.Datos{DNI: &dni, Nombre: &nombre, Apellido: &apellido, Email: &email})
	call.Meta.IdempotencyKey = "benchclient:" + s.runID + ":" + dni
	wait := backoff.New(100*time.Millisecond, 2*time.Second)
	for {
		c, err := s.createOnce(ctx, call)
		if err == nil {
			if c.ID <= 0 || c.DNI != dni || !c.Activo {
				return c, fmt.Errorf("cliente.crear %s answered %+v, want an active customer with that DNI", dni, c)
			}
			return c, nil
		}
		if !transient(err) {
			return c, err
		}
		if !wait.Wait(ctx) {
			return handlers.Cliente{}, fmt.Errorf("cliente.crear %s: %w (last error: %v)", dni, ctx.Err(), err)
		}
	}
}

func (s *seeder) createOnce(ctx context.Context, call topics.Call) (handlers.Cliente, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var c handlers.Cliente
	reply, err := s.req.Call(ctx, call)
	if err != nil {
		return c, err // no reply: ErrNoReply or CodeUnavailable
	}
	err = reply.Decode(&c)
	if handlers.ErrorCode(err) == handlers.CodeConflict {
		return c, fmt.Errorf("cliente.crear: %w: %w", errCollision, err)
	}
	return c, err
}

// transient reports whether a create may succeed if sent again: no reply
// in time, or the service could not reach its database or the broker.
func transient(err error) bool {
	return errors.Is(err, topics.ErrNoReply) || handlers.ErrorCode(err) == handlers.CodeUnavailable
}
