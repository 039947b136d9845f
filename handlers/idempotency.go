package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// DefaultIdempotencyTTL is how long a command's result is kept for retries.
const DefaultIdempotencyTTL = 24 * time.Hour

// StoredResult is a command's outcome, kept so that a retry gets it again.
type StoredResult struct {
	Cliente *Cliente     `json:"cliente,omitempty"`
	Code    Code         `json:"code,omitempty"`
	Message string       `json:"message,omitempty"`
	Fields  []FieldError `json:"fields,omitempty"`
}

func storedResultOf(c Cliente, err error) StoredResult {
	if err != nil {
		e := AsError(err)
		return StoredResult{Code: e.Code, Message: e.Message, Fields: e.Fields}
	}
	return StoredResult{Cliente: &c}
}

// Unpack returns the outcome as the command first returned it.
func (r StoredResult) Unpack() (Cliente, error) {
	if r.Code != "" {
		return Cliente{}, &Error{Code: r.Code, Message: r.Message, Fields: r.Fields}
	}
	if r.Cliente == nil {
		return Cliente{}, Errorf(CodeInternal, "stored result is empty")
	}
	return *r.Cliente, nil
}

// IdempotencyRecord is what is kept under an idempotency key.
type IdempotencyRecord struct {
	Key  string
	Hash string // fingerprint of the request first sent with the key
	Done bool   // false while the request is being (or was partly) handled
	// Resultado is set when Done.
	Resultado StoredResult
	Creado    time.Time
}

// IdempotencyStore keeps idempotency records. Implementations must be safe
// for concurrent use, also by several processes; idempotencytest.Run is
// the suite every implementation passes.
type IdempotencyStore interface {
	// Begin records a new pending request hash under key and returns
	// started=true, unless a record younger than ttl (at now) exists: then
	// it returns that record and started=false. An older record is
	// replaced as if absent. Of concurrent Begins on one key, one starts.
	Begin(ctx context.Context, key, hash string, now time.Time, ttl time.Duration) (rec IdempotencyRecord, started bool, err error)
	// Finish marks key's request done with its result.
	Finish(ctx context.Context, key string, r StoredResult) error
	// Expire deletes the records created before before, returning how many.
	Expire(ctx context.Context, before time.Time) (int, error)
}

// fingerprint identifies a request's content, so that a key reused for a
// different request is detected.
func fingerprint(op string, parts ...any) string {
	h := sha256.New()
	h.Write([]byte(op))
	for _, p := range parts {
		raw, _ := json.Marshal(p) // plain data: cannot fail
		h.Write([]byte{0})
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// idempotent runs apply at most once per key. A retry of a finished request
// gets the first result again; a retry of a request that stopped half way
// (a crash between the change and Finish) asks locate whether the change
// was applied: stores stamp the key on the customer in the same write as
// the change (Cliente.LastOp), and one customer's commands are handled one
// at a time, so only the latest change can be in that state.
func (s *Service) idempotent(ctx context.Context, key, hash string,
	locate func(ctx context.Context) (Cliente, bool, error),
	apply func() (Cliente, error)) (Cliente, error) {
	// Checked before the first write and again right before the change: a
	// change is never started once its caller stopped waiting.
	if err := s.checkDeadline(ctx); err != nil {
		return Cliente{}, err
	}
	if key == "" {
		c, err := apply()
		if err == nil && c.LastOp == key {
			err = s.recordChange(ctx, c)
		}
		return c, err
	}
	rec, started, err := s.idem.Begin(ctx, key, hash, s.now(), s.ttl)
	if err != nil {
		return Cliente{}, err
	}
	if !started {
		if rec.Hash != hash {
			return Cliente{}, &Error{Code: CodeInvalid, Message: "the idempotency key was already used for a different request",
				Fields: []FieldError{{Field: "idempotencyKey", Message: "was used for a different request"}}}
		}
		if rec.Done {
			return rec.Resultado.Unpack()
		}
		if s.diferir {
			if c, found, err := s.pendiente(ctx, key, hash); err != nil || found {
				return c, err
			}
		}
		c, applied, err := locate(ctx)
		if err != nil {
			return Cliente{}, err
		}
		if applied {
			// The change stands but its audit entry and event may not have
			// been recorded.
			if err := s.recordChange(ctx, c); err != nil {
				return Cliente{}, err
			}
			if s.diferir {
				return c, nil
			}
			return c, s.idem.Finish(ctx, key, storedResultOf(c, nil))
		}
	}
	if err := s.checkDeadline(ctx); err != nil {
		return Cliente{}, err // Begin's record stays open: a retry goes on from it
	}
	c, err := apply()
	changed := err == nil && c.LastOp == key // else a no-op: nothing changed
	if changed {
		err = s.recordChange(ctx, c)
	}
	if code := ErrorCode(err); code == CodeUnavailable || code == CodeInternal {
		return c, err // not a final answer: a retry may still succeed
	}
	if changed && s.diferir {
		return c, nil // the relay finishes the record from the event
	}
	if ferr := s.idem.Finish(ctx, key, storedResultOf(c, err)); ferr != nil {
		// The change stands; a retry finds it through locate.
		return Cliente{}, ferr
	}
	return c, err
}

// ExpireIdempotency deletes idempotency records older than the TTL. The
// worker calls it periodically: FerretDB has no TTL indexes.
func (s *Service) ExpireIdempotency(ctx context.Context) (int, error) {
	return s.idem.Expire(ctx, s.now().Add(-s.ttl))
}

// applied reports whether the customer get returns carries the change made
// under key (see idempotent).
func (s *Service) applied(ctx context.Context, key string, get func() (Cliente, error)) (Cliente, bool, error) {
	c, err := get()
	switch {
	case ErrorCode(err) == CodeNotFound:
		return Cliente{}, false, nil
	case err != nil:
		return Cliente{}, false, err
	}
	return c, c.LastOp == key, nil
}

// locateByID is the locate function of a change to customer id.
func (s *Service) locateByID(id int64, key string) func(context.Context) (Cliente, bool, error) {
	return func(ctx context.Context) (Cliente, bool, error) {
		if id <= 0 {
			return Cliente{}, false, nil
		}
		return s.applied(ctx, key, func() (Cliente, error) { return s.store.Get(ctx, id) })
	}
}

// pendiente answers the retry of a request whose idempotency record is not
// finished, when the relay finishes records (Diferir): the change may
// stand with its event still in the outbox, or the relay may have
// finished the record since Begin read it. The relay finishes a record
// before it deletes the event, so reading the outbox first and the record
// again after cannot miss both. found is false when neither says the
// change was made: then the caller goes on as without Diferir (locate,
// which covers a crash between the change and its event).
func (s *Service) pendiente(ctx context.Context, key, hash string) (c Cliente, found bool, err error) {
	e, ok, err := s.outbox.PorOperacion(ctx, key)
	if err != nil || ok {
		return e.Cliente, ok, err
	}
	rec, started, err := s.idem.Begin(ctx, key, hash, s.now(), s.ttl)
	if err != nil || started || rec.Hash != hash || !rec.Done {
		return Cliente{}, false, err
	}
	c, err = rec.Resultado.Unpack()
	return c, true, err
}
