package handlers

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// How the reports stay exact without transactions.
//
// The truth is the customers (Store) and their purchases (Historial, whose
// per-customer totals are a pure function of them). A customer's
// contribution to the reports is a pure function of the customer and its
// totals (Analizador.Contribucion), so it never depends on the order or
// number of times events arrived: the purchase history already absorbs
// duplicate and out-of-order sales events, and a customer's state carries
// its version.
//
// 1. Notice. Every change that may move a contribution records a notice
//    (Aviso) with an id unique to the change: "c<id>-<version>" for a
//    customer change (recorded with its outbox event, see recordEvent),
//    "v<ventaId>-r|a" for a sale registered or cancelled (recorded after
//    the history is written). Recording is idempotent; a crash before it
//    is repaired by the redelivery of the command or event, which records
//    it again. A notice says only "look at this customer again": reading
//    one twice, or a stale one, is harmless, because the Projector reads
//    the customer's current state, never the notice's.
//
// 2. Fold. One Projector round, in this order:
//    a. reads the last lote (batch). If it is not done, it completes it
//       (step d) and ends the round; a lote of another live projector is
//       left to it until Takeover has passed. A projector that completed
//       lote n itself a moment ago (recordarHecho) takes n as read;
//       (c) catches a lote n+1 recorded since;
//    b. reads up to Batch notices, and for their customers the applied
//       contributions (what the counters hold for them now) and the
//       current ones (from Store and Historial);
//    c. records lote n+1, where n is the lote read in (a): the notices'
//       ids, every customer's new contribution that differs from the
//       applied one (a write of one equal changes nothing but its lote
//       stamp, which only guards the write itself), and the counters' delta
//       (new minus applied). Lote numbers are unique, so of two projectors
//       that read the same lote n only one records n+1; the other
//       (ErrLoteOcupado) ends its round and starts again from (a), reading
//       the applied contributions again. A done lote is kept (guardarLotes)
//       so that this holds even when the other projector already finished;
//    d. completes lote n+1 (ReportesStore.CompletarLote): adds the delta
//       to each family's counters document unless that document already
//       counts lote n+1, sets each customer's applied contribution unless
//       it is already at lote n+1, deletes the notices, marks the lote
//       done. Each write is idempotent by the lote number it records.
//       The round that recorded the lote hands its completion what (b)
//       read (Lote.Leido), which still holds: nothing but a completion
//       moves the applied contributions, and none ran since (b), or (c)
//       would have failed. A completion that repeats one reads again.
//
// Interleavings:
//   - a crash anywhere in (b) or (c) before the lote is recorded: nothing
//     changed, the notices are still there;
//   - a crash in (d): the lote stays not done; the next round completes
//     it, and every write it already made is skipped, so nothing counts
//     twice or is lost;
//   - a change after its notice was read in (b): its own notice has
//     another id and is not deleted by (d), so the next round sees it;
//     a change before (b) whose notice comes later: the round folds it
//     early and the later notice finds nothing to move;
//   - a change recorded between (b)'s reads of applied and current state:
//     current is read after applied, and applied only moves in (d);
//   - two projectors: (c) lets one lote n+1 exist; the loser's delta,
//     computed from the same applied contributions, is never written.
//
// On MongoDB every write in (d) is a single-document atomic update, so even
// two projectors completing the same lote at once apply it once. FerretDB
// 1.x updates are not atomic (read, then write the document): there,
// exactness needs one projector to complete a lote at a time, which (a)
// gives unless a projector stalls mid-lote for longer than Takeover.

// Aviso says a customer's contribution may have changed.
type Aviso struct {
	ID        string
	ClienteID int64
}

// AvisoDeCambio is the notice of the customer change that produced c.
func AvisoDeCambio(c Cliente) Aviso {
	return Aviso{ID: "c" + strconv.FormatInt(c.ID, 10) + "-" + strconv.FormatInt(c.Version, 10), ClienteID: c.ID}
}

// AvisoDeVenta is the notice of a sale registered (anulada false) or
// cancelled.
func AvisoDeVenta(ventaID string, clienteID int64, anulada bool) Aviso {
	suffix := "-r"
	if anulada {
		suffix = "-a"
	}
	return Aviso{ID: "v" + ventaID + suffix, ClienteID: clienteID}
}

// Lote is one fold of notices into the counters.
type Lote struct {
	Numero int64
	// Owner is the projector that recorded it; Creado when.
	Owner  string
	Creado time.Time
	Hecho  bool
	// Delta is what the lote adds to each bucket.
	Delta map[string]int64
	// Contribuciones are the customers' contributions after the lote.
	Contribuciones map[int64]Contribucion
	// Avisos are the notices it folds.
	Avisos []Aviso
	// Leido is what the round that recorded the lote read to build it;
	// nil on a lote read back (UltimoLote), whose completion may be a
	// repeat. Never stored.
	Leido *LoteLeido
}

// LoteLeido is what a round read before recording its lote n, which a
// store may use in CompletarLote's first call instead of reading again.
// It holds at that call: applied contributions only move when a lote is
// completed, the round read them after lote n-1 was done, and lote n
// could be recorded only because no other lote was recorded since.
type LoteLeido struct {
	// Aplicadas are the applied contributions of the lote's customers
	// before it; a customer absent was never folded.
	Aplicadas map[int64]Contribucion
	// TodosLosAvisos says the notices were every notice recorded when
	// read (fewer than Batch): deleting them by a scan of the notices
	// is cheap.
	TodosLosAvisos bool
}

// ErrLoteOcupado: a lote with that number is recorded already.
var ErrLoteOcupado = errors.New("report lote already recorded")

// ReportesStore keeps the report counters, the contributions they count
// and the notices of changes. Implementations must make CompletarLote
// idempotent by the lote number, write by write (see the comment above);
// storetest.RunReportes is the suite every implementation passes.
type ReportesStore interface {
	// Avisar records notices; one whose id is recorded is kept once.
	Avisar(ctx context.Context, avisos ...Aviso) error
	// Avisos returns up to limit recorded notices, in any order.
	Avisos(ctx context.Context, limit int) ([]Aviso, error)
	// Aplicadas returns the contributions the counters hold for ids; a
	// customer never folded is absent.
	Aplicadas(ctx context.Context, ids []int64) (map[int64]Contribucion, error)
	// UltimoLote returns the lote with the highest number, nil if none.
	UltimoLote(ctx context.Context) (*Lote, error)
	// IniciarLote records l, not done, unless a lote numbered l.Numero is
	// recorded: then ErrLoteOcupado.
	IniciarLote(ctx context.Context, l Lote) error
	// CompletarLote applies recorded lote l once, however many times it is
	// called, also after a call that stopped half way: adds l.Delta to the
	// counters, sets the applied contributions, deletes l's notices and
	// marks l done. Where l.Leido is set, the call is the first for l and
	// may trust it.
	CompletarLote(ctx context.Context, l Lote) error
	// Contadores returns the non-zero counters of one family, by bucket.
	Contadores(ctx context.Context, familia string) (map[string]int64, error)
	// Seleccionar returns, in ascending order, up to limit ids of
	// customers after despuesDe whose applied contribution sel selects.
	Seleccionar(ctx context.Context, sel Seleccion, despuesDe int64, limit int) ([]int64, error)
	// Podar deletes done lotes recorded before before, but never the last.
	Podar(ctx context.Context, before time.Time) error
}

// Seleccion selects customers by their applied contribution: all of its
// set conditions hold.
type Seleccion struct {
	// Departamento, if set, is the official name, or SinUbicar.
	Departamento *string
	// Valor, if set, keeps customers with a cell in one of the ranges.
	Valor []RangoValor
}

// Selecciona reports whether sel selects contribution c.
func (sel Seleccion) Selecciona(c Contribucion) bool {
	if c.Dia == "" {
		return false
	}
	if d := sel.Departamento; d != nil && *d != cmp.Or(c.Departamento, SinUbicar) {
		return false
	}
	if sel.Valor != nil {
		return slices.ContainsFunc(c.Valor, func(v CeldaValor) bool {
			return slices.ContainsFunc(sel.Valor, func(r RangoValor) bool { return r.Contiene(v) })
		})
	}
	return true
}

// Projector folds notices into the report counters, one lote at a time.
type Projector struct {
	Store interface {
		Get(context.Context, int64) (Cliente, error)
	}
	Historial interface {
		Agregados(context.Context, int64) (Agregados, int64, error)
	}
	Reportes   ReportesStore
	Analizador *Analizador
	Now        func() time.Time
	// Batch is the most notices one lote folds.
	Batch int
	// Interval is the longest wait between rounds.
	Interval time.Duration
	// Gather is how long a nudged round first waits for more notices: a
	// lote rewrites every report family's counters however few notices
	// it folds, so a burst folded as one lote costs far less than a lote
	// per change (at 100,000 customers those counter documents are large).
	// Zero folds at once.
	Gather time.Duration
	// Takeover is how long a lote of another projector may stay not done
	// before this one completes it (its owner is presumed dead).
	Takeover time.Duration
	// Observe, if set, is told the outcome of every round.
	Observe func(folded int, err error)

	owner string
	nudge chan struct{}
	hecho *loteHecho
}

// loteHecho is the last lote a projector completed, and when.
type loteHecho struct {
	mu     sync.Mutex
	numero int64
	cuando time.Time
}

// recordarHecho bounds how long a projector trusts that the lote it
// completed is the last done one, well inside guardarLotes: lote n+1, if
// another projector recorded it since, is still there to refuse this
// one's.
const recordarHecho = time.Minute

// guardarLotes is how long Run keeps done lotes: longer than a round
// (30 s) after recordarHecho, so that lote n+1 outlives every round that
// read lote n as the last. Not longer: FerretDB/SQLite finds a lote by
// its number with a scan of those kept, every lote (an hour of lotes
// was tens of thousands at a few hundred changes a second).
const guardarLotes = 5 * time.Minute

// ultimoHecho returns the lote this projector completed last, if that is
// recent enough to start the next without reading the last lote.
func (p *Projector) ultimoHecho() (int64, bool) {
	p.hecho.mu.Lock()
	defer p.hecho.mu.Unlock()
	return p.hecho.numero, p.hecho.numero > 0 && p.Now().Sub(p.hecho.cuando) < min(p.Takeover, recordarHecho)
}

// recordar sets the lote completed last; 0 forgets it.
func (p *Projector) recordar(numero int64) {
	p.hecho.mu.Lock()
	defer p.hecho.mu.Unlock()
	p.hecho.numero, p.hecho.cuando = numero, p.Now()
}

// NewProjector returns p ready to run; every field but Observe is required.
func NewProjector(p Projector) (*Projector, error) {
	if p.Store == nil || p.Historial == nil || p.Reportes == nil || p.Analizador == nil || p.Now == nil ||
		p.Batch <= 0 || p.Interval <= 0 || p.Takeover <= 0 {
		return nil, errors.New("handlers: NewProjector: Store, Historial, Reportes, Analizador, Now, Batch, Interval and Takeover are required")
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	p.owner = hex.EncodeToString(id[:])
	p.nudge = make(chan struct{}, 1)
	p.hecho = &loteHecho{}
	return &p, nil
}

// NotifyingReportes is the reports store that wakes the projector as soon
// as a notice is recorded. Give it to the Service.
func (p *Projector) NotifyingReportes() ReportesStore { return notifyingReportes{p.Reportes, p.nudge} }

type notifyingReportes struct {
	ReportesStore
	nudge chan struct{}
}

func (r notifyingReportes) Avisar(ctx context.Context, avisos ...Aviso) error {
	err := r.ReportesStore.Avisar(ctx, avisos...)
	if err == nil {
		nudge(r.nudge)
	}
	return err
}

// Run folds whenever nudged and at least every Interval, backing off while
// rounds fail, until ctx ends.
func (p *Projector) Run(ctx context.Context) {
	lastPrune := time.Time{}
	runRounds(ctx, p.Interval, p.Gather, p.nudge, func(ctx context.Context) (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		n, err := p.RunOnce(rctx)
		if err == nil && p.Now().Sub(lastPrune) > time.Minute {
			err = p.Reportes.Podar(rctx, p.Now().Add(-guardarLotes))
			lastPrune = p.Now()
		}
		if p.Observe != nil && ctx.Err() == nil {
			p.Observe(n, err)
		}
		return n > 0, err // maybe more are waiting
	})
}

// Drain runs rounds until no notice is left or ctx ends; for tests and
// tools that need the reports current now.
func (p *Projector) Drain(ctx context.Context) error {
	for {
		n, err := p.RunOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			last, err := p.Reportes.UltimoLote(ctx)
			if err != nil {
				return err
			}
			if last == nil || last.Hecho {
				// Nothing folded also when another projector took the
				// lote number first: done only once no notice is left.
				left, err := p.Reportes.Avisos(ctx, 1)
				if err != nil || len(left) == 0 {
					return err
				}
				continue
			}
			// Another projector's lote: wait for it.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// RunOnce runs one round (see the comment at the top of this file) and
// returns how many notices it folded.
//
// Step (a) is skipped when this projector completed the last lote it
// knows of a moment ago: it starts lote n+1 on that. If another recorded
// n+1 since, (c) fails as for any race, and the next round reads it.
func (p *Projector) RunOnce(ctx context.Context) (int, error) {
	n, err := p.runOnce(ctx)
	if err != nil {
		p.recordar(0)
	}
	return n, err
}

func (p *Projector) runOnce(ctx context.Context) (int, error) {
	numero, ok := p.ultimoHecho()
	numero++
	if !ok {
		last, err := p.Reportes.UltimoLote(ctx)
		if err != nil {
			return 0, err
		}
		numero = 1
		if last != nil {
			if !last.Hecho {
				if last.Owner != p.owner && p.Now().Sub(last.Creado) < p.Takeover {
					return 0, nil
				}
				err := p.Reportes.CompletarLote(ctx, *last)
				if err == nil {
					p.recordar(last.Numero)
				}
				return len(last.Avisos), err
			}
			numero = last.Numero + 1
		}
	}
	avisos, err := p.Reportes.Avisos(ctx, p.Batch)
	if err != nil || len(avisos) == 0 {
		return 0, err
	}
	var ids []int64
	lote := Lote{Numero: numero, Owner: p.owner, Creado: truncateToMillis(p.Now()), Delta: map[string]int64{},
		Contribuciones: map[int64]Contribucion{}, Leido: &LoteLeido{TodosLosAvisos: len(avisos) < p.Batch}}
	for _, a := range avisos {
		lote.Avisos = append(lote.Avisos, a)
		if !slices.Contains(ids, a.ClienteID) {
			ids = append(ids, a.ClienteID)
		}
	}
	aplicadas, err := p.Reportes.Aplicadas(ctx, ids)
	if err != nil {
		return 0, err
	}
	lote.Leido.Aplicadas = aplicadas
	nuevas, err := p.contribuciones(ctx, ids)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if aplicadas[id].Equal(nuevas[i]) {
			// Nothing moves, and the applied one (or none, for a
			// customer that adds nothing) already says what a write
			// would: the lote leaves it alone.
			continue
		}
		for k, d := range Delta(aplicadas[id], nuevas[i]) {
			lote.Delta[k] += d
		}
		lote.Contribuciones[id] = nuevas[i]
	}
	for k, d := range lote.Delta {
		if d == 0 {
			delete(lote.Delta, k)
		}
	}
	switch err := p.Reportes.IniciarLote(ctx, lote); {
	case errors.Is(err, ErrLoteOcupado):
		p.recordar(0)
		return 0, nil // another projector got there first: start again
	case err != nil:
		return 0, err
	}
	err = p.Reportes.CompletarLote(ctx, lote)
	if err == nil {
		p.recordar(lote.Numero)
	}
	return len(avisos), err
}

// LectorClientes is what a Store may offer to read many customers in a
// few round trips; the projector reads a lote's customers with it when
// its Store has it.
type LectorClientes interface {
	// GetVarios returns the customers of ids that exist, by id.
	GetVarios(ctx context.Context, ids []int64) (map[int64]Cliente, error)
}

// LectorAgregados is what a Historial may offer to read the totals of
// many customers in a few round trips.
type LectorAgregados interface {
	// AgregadosVarios returns the stored totals of ids, by id; a customer
	// without totals is absent.
	AgregadosVarios(ctx context.Context, ids []int64) (map[int64]Agregados, error)
}

// contribuciones reads the current contributions of ids: all at once when
// Store and Historial can, else 8 customers at a time.
func (p *Projector) contribuciones(ctx context.Context, ids []int64) ([]Contribucion, error) {
	out := make([]Contribucion, len(ids))
	lc, ok := p.Store.(LectorClientes)
	la, ok2 := p.Historial.(LectorAgregados)
	if !ok || !ok2 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(8)
		for i, id := range ids {
			g.Go(func() (err error) {
				out[i], err = p.contribucion(gctx, id)
				return err
			})
		}
		return out, g.Wait()
	}
	clientes, err := lc.GetVarios(ctx, ids)
	if err != nil {
		return nil, err
	}
	totales, err := la.AgregadosVarios(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if c, ok := clientes[id]; ok { // else it does not exist: it adds nothing
			t, ok := totales[id]
			if !ok {
				t = Agregados{ClienteID: id}
			}
			out[i] = p.Analizador.Contribucion(c, t)
		}
	}
	return out, nil
}

// contribucion reads customer id's current contribution.
func (p *Projector) contribucion(ctx context.Context, id int64) (Contribucion, error) {
	c, err := p.Store.Get(ctx, id)
	switch {
	case ErrorCode(err) == CodeNotFound:
		return Contribucion{}, nil
	case err != nil:
		return Contribucion{}, err
	}
	totales, _, err := p.Historial.Agregados(ctx, id)
	if err != nil {
		return Contribucion{}, err
	}
	return p.Analizador.Contribucion(c, totales), nil
}

// Reconstruir computes every family's counters from scratch, from the
// customers and their purchase histories (not the stored totals): what the maintained counters must equal
// once every notice is folded.
func (a *Analizador) Reconstruir(clientes []Cliente, compras func(id int64) []Compra) map[string]int64 {
	out := map[string]int64{}
	for _, c := range clientes {
		for k, n := range a.Contribucion(c, Agregar(c.ID, compras(c.ID))).Claves() {
			out[k] += n
		}
	}
	return out
}

// TodosLosContadores reads the counters of every family into one map.
func TodosLosContadores(ctx context.Context, r ReportesStore) (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range Familias {
		n, err := r.Contadores(ctx, f)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, n)
	}
	return out, nil
}

// DiferenciasContadores lists, by bucket, where maintained counters differ
// from rebuilt ones (Reconstruir); none when they are equal.
func DiferenciasContadores(mantenidos, reconstruidos map[string]int64) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(reconstruidos)) {
		if reconstruidos[k] != mantenidos[k] {
			out = append(out, fmt.Sprintf("bucket %s: maintained %d, rebuilt %d", k, mantenidos[k], reconstruidos[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(mantenidos)) {
		if _, ok := reconstruidos[k]; !ok {
			out = append(out, fmt.Sprintf("bucket %s: maintained %d, rebuilt none", k, mantenidos[k]))
		}
	}
	return out
}
