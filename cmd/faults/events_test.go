package faults

// Fault tests of the two event flows: sales events applied to purchase
// history while the worker is killed, and customer events (outbox and
// relay) while the worker is killed in the middle of commands.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/topics"
)

// ---------------------------------------------------------------------
// 1. Sales events: kill -9 the worker while it applies them.
// ---------------------------------------------------------------------

// plannedSale is one sale id of the generated stream and what it must end
// up as.
type plannedSale struct {
	id         string
	cliente    int64
	fecha      time.Time
	minor      int64
	moneda     string
	items      int
	registered bool      // a registration is sent (false: an orphan cancellation)
	cancelled  bool      // at least one cancellation is sent
	cancelAt   time.Time // the date of the first cancellation sent
}

func fechaText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func saleEvent(s *plannedSale, moneda, total string) topics.SalesEvent {
	id, cliente, fecha, n, items := s.id, s.cliente, s.fecha.UTC().Format(time.RFC3339Nano), json.Number(total), s.items
	return topics.VentaRegistrada(handlers.DatosVenta{VentaID: &id, ClienteID: &cliente, Fecha: &fecha, Total: &n, Moneda: &moneda, Items: &items})
}

func cancelEvent(s *plannedSale, at time.Time) topics.SalesEvent {
	id, cliente, fecha := s.id, s.cliente, at.UTC().Format(time.RFC3339Nano)
	return topics.VentaAnulada(handlers.DatosAnulacion{VentaID: &id, ClienteID: &cliente, Fecha: &fecha})
}

// salesFigures counts what the generated stream holds.
type salesFigures struct {
	sales, duplicates, cancelBefore, cancelAfter, secondCancels, orphans int
}

// planSales generates, for every customer, 4 to 10 sales in PEN, USD and
// CLP (no decimals) and the events that describe them: each registration,
// some repeated (15%, with the currency in lower case and the amount
// written differently), some cancelled before their registration arrives
// (10%) or after (12%), a few cancelled twice (the first cancellation
// wins), and cancellations of sales that never come. The stream
// interleaves every sale's events at random, keeping the order of each
// sale's own events.
func planSales(seed uint64, ids []int64, now time.Time) ([]topics.SalesEvent, map[int64][]*plannedSale, salesFigures) {
	r := rand.New(rand.NewPCG(seed, 0x5a1e5))
	base := now.Add(-400 * 24 * time.Hour).Truncate(time.Millisecond)
	monedas := []string{"PEN", "PEN", "USD", "CLP"}
	plan := map[int64][]*plannedSale{}
	var queues [][]topics.SalesEvent
	var f salesFigures
	for _, cid := range ids {
		n := 4 + r.IntN(7)
		for j := range n {
			s := &plannedSale{
				id: fmt.Sprintf("fs-%d-%d-%d", runID, cid, j), cliente: cid, registered: true,
				fecha:  base.Add(time.Duration(r.Int64N(390*24*3600*1000)) * time.Millisecond),
				moneda: monedas[r.IntN(len(monedas))], minor: 1 + r.Int64N(500_000), items: 1 + r.IntN(20),
			}
			f.sales++
			total := handlers.FormatMinor(s.minor, s.moneda)
			reg := saleEvent(s, s.moneda, total)
			var q []topics.SalesEvent
			switch p := r.Float64(); {
			case p < 0.10:
				s.cancelled, s.cancelAt = true, s.fecha.Add(time.Duration(1+r.IntN(200))*time.Hour)
				q = append(q, cancelEvent(s, s.cancelAt), reg)
				f.cancelBefore++
			case p < 0.22:
				s.cancelled, s.cancelAt = true, s.fecha.Add(time.Duration(1+r.IntN(200))*time.Hour)
				q = append(q, reg, cancelEvent(s, s.cancelAt))
				f.cancelAfter++
			default:
				q = append(q, reg)
			}
			if r.Float64() < 0.15 {
				// The same sale again, written another way.
				alt := total
				if strings.Contains(alt, ".") && strings.HasSuffix(alt, "0") {
					alt = alt[:len(alt)-1]
				}
				q = append(q, saleEvent(s, strings.ToLower(s.moneda), alt))
				f.duplicates++
			}
			if s.cancelled && r.Float64() < 0.3 {
				q = append(q, cancelEvent(s, s.cancelAt.Add(time.Hour))) // ignored: the first wins
				f.secondCancels++
			}
			plan[cid] = append(plan[cid], s)
			queues = append(queues, q)
		}
		if r.IntN(5) == 0 {
			s := &plannedSale{id: fmt.Sprintf("fs-%d-%d-huerfana", runID, cid), cliente: cid, cancelled: true,
				cancelAt: base.Add(time.Duration(r.Int64N(390*24*3600*1000)) * time.Millisecond)}
			plan[cid] = append(plan[cid], s)
			queues = append(queues, []topics.SalesEvent{cancelEvent(s, s.cancelAt)})
			f.orphans++
		}
	}
	var events []topics.SalesEvent
	for len(queues) > 0 {
		k := r.IntN(len(queues))
		events = append(events, queues[k][0])
		if queues[k] = queues[k][1:]; len(queues[k]) == 0 {
			queues[k] = queues[len(queues)-1]
			queues = queues[:len(queues)-1]
		}
	}
	return events, plan, f
}

// expectedResumen is the summary a customer's planned sales must produce,
// in the canonical form resumenText gives the real one.
func expectedResumen(sales []*plannedSale) string {
	var compras, anuladas, items int
	var primera, ultima time.Time
	type tot struct {
		n     int
		minor int64
	}
	byMoneda := map[string]*tot{}
	for _, s := range sales {
		if !s.registered {
			continue
		}
		if s.cancelled {
			anuladas++
			continue
		}
		compras++
		items += s.items
		if primera.IsZero() || s.fecha.Before(primera) {
			primera = s.fecha
		}
		if s.fecha.After(ultima) {
			ultima = s.fecha
		}
		if byMoneda[s.moneda] == nil {
			byMoneda[s.moneda] = &tot{}
		}
		byMoneda[s.moneda].n++
		byMoneda[s.moneda].minor += s.minor
	}
	var parts []string
	for m, t := range byMoneda {
		parts = append(parts, fmt.Sprintf("%s:%d:%s", m, t.n, handlers.FormatMinor(t.minor, m)))
	}
	sort.Strings(parts)
	p, u := "null", "null"
	if compras > 0 {
		p, u = fechaText(primera), fechaText(ultima)
	}
	return fmt.Sprintf("compras=%d anuladas=%d items=%d primera=%s ultima=%s porMoneda=%v", compras, anuladas, items, p, u, parts)
}

type resumenWire struct {
	ClienteID     int64   `json:"clienteId"`
	Compras       int     `json:"compras"`
	Anuladas      int     `json:"anuladas"`
	Items         int     `json:"items"`
	PrimeraCompra *string `json:"primeraCompra"`
	UltimaCompra  *string `json:"ultimaCompra"`
	PorMoneda     []struct {
		Moneda       string `json:"moneda"`
		Compras      int    `json:"compras"`
		TotalGastado string `json:"totalGastado"`
	} `json:"porMoneda"`
}

func resumenText(r resumenWire) string {
	var parts []string
	for _, m := range r.PorMoneda {
		parts = append(parts, fmt.Sprintf("%s:%d:%s", m.Moneda, m.Compras, m.TotalGastado))
	}
	sort.Strings(parts)
	p, u := "null", "null"
	if r.PrimeraCompra != nil {
		p = *r.PrimeraCompra
	}
	if r.UltimaCompra != nil {
		u = *r.UltimaCompra
	}
	return fmt.Sprintf("compras=%d anuladas=%d items=%d primera=%s ultima=%s porMoneda=%v", r.Compras, r.Anuladas, r.Items, p, u, parts)
}

// getJSON GETs base+path into out, retrying answers that leave the outcome
// open (transport errors, 503, 504) for up to bound.
func getJSON(ctx context.Context, base, path string, out any, bound time.Duration) error {
	_, err := getPage(ctx, base, path, out, bound)
	return err
}

type compraWire struct {
	VentaID        string `json:"ventaId"`
	ClienteID      int64  `json:"clienteId"`
	Fecha          string `json:"fecha"`
	Total          string `json:"total"`
	Moneda         string `json:"moneda"`
	Items          int    `json:"items"`
	Anulada        bool   `json:"anulada"`
	FechaAnulacion string `json:"fechaAnulacion"`
}

// history reads a customer's whole purchase history, 100 a page.
func history(ctx context.Context, base string, id int64) ([]compraWire, error) {
	var all []compraWire
	cursor := ""
	for pages := 0; ; pages++ {
		if pages == 20 {
			return all, fmt.Errorf("customer %d: more than 20 pages of history", id)
		}
		path := fmt.Sprintf("/cliente/%d/compras?limite=100", id)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			ClienteID int64        `json:"clienteId"`
			Compras   []compraWire `json:"compras"`
			Siguiente string       `json:"siguiente"`
		}
		if err := getJSON(ctx, base, path, &page, 30*time.Second); err != nil {
			return all, err
		}
		all = append(all, page.Compras...)
		if page.Siguiente == "" {
			return all, nil
		}
		cursor = page.Siguiente
	}
}

// checkHistory compares a customer's history with its planned sales: each
// registered sale exactly once, as registered, cancelled if it was.
func checkHistory(got []compraWire, sales []*plannedSale) []string {
	var problems []string
	seen := map[string]int{}
	for _, c := range got {
		seen[c.VentaID]++
	}
	for id, n := range seen {
		if n != 1 {
			problems = append(problems, fmt.Sprintf("sale %s listed %d times", id, n))
		}
	}
	want := map[string]*plannedSale{}
	for _, s := range sales {
		if s.registered {
			want[s.id] = s
		} else if seen[s.id] > 0 {
			problems = append(problems, fmt.Sprintf("orphan cancellation %s listed as a purchase", s.id))
		}
	}
	for id := range want {
		if seen[id] == 0 {
			problems = append(problems, fmt.Sprintf("sale %s missing from the history", id))
		}
	}
	for _, c := range got {
		s := want[c.VentaID]
		if s == nil {
			if !strings.HasSuffix(c.VentaID, "-huerfana") {
				problems = append(problems, fmt.Sprintf("unknown sale %s in the history", c.VentaID))
			}
			continue
		}
		wantAnul := ""
		if s.cancelled {
			wantAnul = fechaText(s.cancelAt)
		}
		if c.ClienteID != s.cliente || c.Fecha != fechaText(s.fecha) || c.Total != handlers.FormatMinor(s.minor, s.moneda) ||
			c.Moneda != s.moneda || c.Items != s.items || c.Anulada != s.cancelled || c.FechaAnulacion != wantAnul {
			problems = append(problems, fmt.Sprintf("sale %s is %+v, want cliente %d fecha %s total %s %s items %d anulada %v %s",
				c.VentaID, c, s.cliente, fechaText(s.fecha), handlers.FormatMinor(s.minor, s.moneda), s.moneda, s.items, s.cancelled, wantAnul))
		}
	}
	return problems
}

// salesHandled reads a worker's sales event counters: the total and the
// count by outcome.
func salesHandled(p *proc) (float64, map[string]float64, error) {
	series, err := scrape(p, "cliente_worker_sales_events_total")
	if err != nil {
		return 0, nil, err
	}
	total, by := 0.0, map[string]float64{}
	for labels, v := range series {
		total += v
		by[labelValue(labels, "outcome")] += v
	}
	return total, by, nil
}

// scrape returns the samples of metric on p's /metrics, by label set.
func scrape(p *proc, metric string) (map[string]float64, error) {
	resp, err := httpClient.Get("http://" + p.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %v", line, err)
		}
		out[strings.TrimSpace(rest[:i])] += v
	}
	return out, nil
}

func labelValue(labels, name string) string {
	_, after, ok := strings.Cut(labels, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, `"`)
	return v
}

// createCustomers creates n customers through the edge (8 at a time, each
// retried with its idempotency key) and returns their ids.
func createCustomers(ctx context.Context, t *testing.T, sc *scenario, base string, n int) []int64 {
	t.Helper()
	var statuses statusCounts
	outcomes := load(ctx, sc, base, n, 8, &statuses, nil)
	ids := make([]int64, 0, n)
	for i, o := range outcomes {
		var c cliente
		if o.status != 201 || json.Unmarshal(o.body, &c) != nil || c.ID <= 0 {
			t.Fatalf("create %d: status %d: %s (answers %v)", i, o.status, o.body, statuses.String())
		}
		ids = append(ids, c.ID)
	}
	return ids
}

// forEach runs f for every customer, 8 at a time.
func forEach(ids []int64, f func(id int64)) {
	parallel(context.Background(), len(ids), func(i int) { f(ids[i]) })
}

// parallel runs f for 0..n-1, 8 at a time, until ctx ends.
func parallel(ctx context.Context, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// TestWorkerKilledDuringSalesEvents writes a stream of ~3,000 sales events
// (registrations, repeats, cancellations before and after their sale) for
// 300 customers, kills -9 the worker once it has handled a third of them,
// restarts it, and checks that every customer's totals and history are
// exactly what the events describe, and every report what rebuilding it
// from them gives: no event lost, none counted twice.
func TestWorkerKilledDuringSalesEvents(t *testing.T) {
	skipUnlessEnabled(t)
	sc := newScenario(t, "sales-kill9", "REQUEST_TIMEOUT=5s")
	worker := sc.start(t, "worker", "worker-1")
	edge := sc.start(t, "edge", "edge")
	base := "http://" + edge.addr
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	const nClientes = 300
	ids := createCustomers(ctx, t, sc, base, nClientes)
	events, plan, figs := planSales(uint64(runID), ids, time.Now())
	expected := map[int64]string{}
	for _, id := range ids {
		expected[id] = expectedResumen(plan[id])
	}

	// Write the whole stream (in batches, as a sales service would) while
	// watching the worker's counters; kill it at a third.
	w := topics.NewSalesEventWriter(cluster, sc.envValue("TOPIC_SALES_EVENTS"))
	defer w.Close()
	written := make(chan error, 1)
	var writeTook time.Duration
	start := time.Now()
	go func() {
		for i := 0; i < len(events); i += 100 {
			if err := w.Write(ctx, events[i:min(i+100, len(events))]...); err != nil {
				written <- fmt.Errorf("writing events %d-: %w", i, err)
				return
			}
		}
		writeTook = time.Since(start)
		written <- nil
	}()
	threshold := float64(len(events) / 3)
	var atKill float64
	var byOutcome1 map[string]float64
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker handled %v of %d events in 3 minutes", atKill, len(events))
		}
		n, by, err := salesHandled(worker)
		if err != nil {
			continue
		}
		atKill, byOutcome1 = n, by
		if n >= threshold {
			break
		}
	}
	worker.kill9()
	killedAt := time.Now()
	beforeRate := atKill / killedAt.Sub(start).Seconds()
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if atKill >= float64(len(events)) {
		t.Errorf("the worker had handled all %d events before the kill: nothing was tested", len(events))
	}

	relaunched := time.Now()
	worker2 := sc.start(t, "worker", "worker-2")
	readyAfter := time.Since(relaunched)

	// Converged: every customer's totals are the expected ones. They are
	// read whenever the restarted worker has handled nothing for a second,
	// so that the reads do not slow it down.
	pending := slices.Clone(ids)
	var firstHandled, lastHandled time.Time
	handled2 := -1.0
	var byOutcome2 map[string]float64
	var mu sync.Mutex
	last := map[int64]string{}
	for deadline := relaunched.Add(2 * time.Minute); len(pending) > 0; time.Sleep(100 * time.Millisecond) {
		if n, by, err := salesHandled(worker2); err == nil && n != handled2 {
			handled2, byOutcome2, lastHandled = n, by, time.Now()
			if firstHandled.IsZero() && n > 0 {
				firstHandled = lastHandled
			}
		}
		if (handled2 <= 0 || time.Since(lastHandled) < time.Second) && time.Now().Before(deadline) {
			continue
		}
		var still []int64
		forEach(pending, func(id int64) {
			var r resumenWire
			err := getJSON(ctx, base, fmt.Sprintf("/cliente/%d/resumen", id), &r, 10*time.Second)
			got := resumenText(r)
			if err != nil {
				got = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			last[id] = got
			if got != expected[id] {
				still = append(still, id)
			}
		})
		if pending = still; len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(pending)
			for _, id := range pending[:min(10, len(pending))] {
				t.Errorf("customer %d: resumen %s\n\twant %s", id, last[id], expected[id])
			}
			t.Fatalf("%d of %d customers still wrong 2 minutes after the restart", len(pending), len(ids))
		}
	}
	converged := time.Now()

	// Read everything once more, history included.
	var wrong, histWrong atomic.Int64
	forEach(ids, func(id int64) {
		var r resumenWire
		if err := getJSON(ctx, base, fmt.Sprintf("/cliente/%d/resumen", id), &r, 30*time.Second); err != nil {
			t.Errorf("customer %d: %v", id, err)
			return
		}
		if got := resumenText(r); got != expected[id] || r.ClienteID != id {
			if wrong.Add(1) <= 10 {
				t.Errorf("customer %d: resumen %s (clienteId %d)\n\twant %s", id, got, r.ClienteID, expected[id])
			}
		}
		h, err := history(ctx, base, id)
		if err != nil {
			t.Errorf("customer %d: history: %v", id, err)
			return
		}
		if problems := checkHistory(h, plan[id]); len(problems) > 0 {
			if histWrong.Add(1) <= 10 {
				t.Errorf("customer %d: history: %s", id, strings.Join(problems[:min(5, len(problems))], "; "))
			}
		}
	})
	for _, by := range []map[string]float64{byOutcome1, byOutcome2} {
		for outcome, n := range by {
			if outcome != topics.OutcomeApplied && outcome != topics.OutcomeDuplicate && n > 0 {
				t.Errorf("%v sales events ended %q: every event of this stream applies", n, outcome)
			}
		}
	}
	// The reports too, once the restarted worker folded every notice (a
	// lote the killed worker left half done is taken over after 30 s).
	reportsAfter := checkReportsConverge(ctx, t, base, plan, 2*time.Minute)
	afterRate := handled2 / lastHandled.Sub(firstHandled).Seconds()
	t.Logf("FIGURES kill -9 worker during sales events: %d events written in %v (%d sales, %d repeated, %d cancelled before their sale, %d after, %d cancelled twice, %d orphan cancellations) for %d customers; "+
		"worker killed after handling %.0f, %v after the first write (%.0f events/s); restarted worker ready in %v, handled its first event %v after the relaunch (group rebalance) and %.0f events in all at %.0f events/s; "+
		"totals of every customer right %v after the relaunch, every report exact %v later; about %.0f events handled twice across the kill (worker-1's count is read up to 10 ms before the kill); outcomes before the kill %v, after %v; wrong totals %d, wrong histories %d",
		len(events), writeTook.Round(time.Millisecond), figs.sales, figs.duplicates, figs.cancelBefore, figs.cancelAfter, figs.secondCancels, figs.orphans, len(ids),
		atKill, killedAt.Sub(start).Round(time.Millisecond), beforeRate, readyAfter.Round(time.Millisecond), firstHandled.Sub(relaunched).Round(time.Millisecond), handled2, afterRate,
		converged.Sub(relaunched).Round(time.Millisecond), reportsAfter.Round(time.Millisecond), atKill+handled2-float64(len(events)), byOutcome1, byOutcome2, wrong.Load(), histWrong.Load())
}

// ---------------------------------------------------------------------
// 2. Customer events: kill -9 the worker in the middle of commands.
// ---------------------------------------------------------------------

// change is one step of a customer's planned life.
type change struct {
	method string
	kind   string // the event type its version must carry (handlers.Cambio*)
	key    string
	body   map[string]any
	status int // the success status
}

// lifeOf plans customer i's changes: every customer is created; half are
// updated, a quarter then deactivated, an eighth reactivated and a
// sixteenth deactivated again. Each change bumps the version by one.
func lifeOf(sc *scenario, i int) []change {
	key := func(op string) string { return fmt.Sprintf("%s-%s-%d", sc.name, op, i) }
	updated := bodyFor(sc, i)
	updated["nombre"] = "Fault Actualizado"
	reactivated := bodyFor(sc, i)
	reactivated["nombre"] = "Fault Actualizado"
	reactivated["activo"] = true
	life := []change{{"POST", handlers.CambioRegistrado, key("c"), bodyFor(sc, i), 201}}
	if i%2 == 0 {
		life = append(life, change{"PUT", handlers.CambioActualizado, key("u"), updated, 200})
	}
	if i%4 == 0 {
		life = append(life, change{"DELETE", handlers.CambioDesactivado, key("d"), nil, 204})
	}
	if i%8 == 0 {
		life = append(life, change{"PUT", handlers.CambioReactivado, key("r"), reactivated, 200})
	}
	if i%16 == 0 {
		life = append(life, change{"DELETE", handlers.CambioDesactivado, key("d2"), nil, 204})
	}
	return life
}

// seenEvent is what the reader saw of one (customer, version).
type seenEvent struct {
	count int
	types map[string]bool
	first time.Time
}

type eventKey struct{ id, version int64 }

// eventLog collects the customer events topic as a consumer would.
type eventLog struct {
	mu      sync.Mutex
	seen    map[eventKey]*seenEvent
	lastVer map[int64]int64
	// late lists the versions whose first copy came after a higher version
	// of the same customer; redelivered copies after a higher version are
	// only counted (staleCopies).
	late        []string
	staleCopies int
	total       int
	bad         []string
	// onTopic is when the partition probe first saw each version: about
	// when the relay published it, whatever the follower's lag.
	onTopic map[eventKey]time.Time
}

func (l *eventLog) add(ev topics.CustomerEvent, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if ev.ID != fmt.Sprintf("%d-%d", ev.ClienteID, ev.Version) || ev.Data.ID != ev.ClienteID || ev.Data.Version != ev.Version ||
		(ev.Type == "cliente.desactivado" && ev.Data.Activo) || (ev.Type == "cliente.reactivado" && !ev.Data.Activo) {
		l.bad = append(l.bad, fmt.Sprintf("%+v", ev))
	}
	k := eventKey{ev.ClienteID, ev.Version}
	s := l.seen[k]
	if s == nil {
		s = &seenEvent{types: map[string]bool{}, first: at}
		l.seen[k] = s
	}
	s.count++
	s.types[ev.Type] = true
	if prev := l.lastVer[ev.ClienteID]; ev.Version < prev {
		if s.count == 1 {
			l.late = append(l.late, fmt.Sprintf("customer %d version %d (%s) first came after version %d",
				ev.ClienteID, ev.Version, ev.Type, prev))
		} else {
			l.staleCopies++
		}
	}
	l.lastVer[ev.ClienteID] = max(l.lastVer[ev.ClienteID], ev.Version)
}

// probe reads partition p of topic from its start without a group, and
// records when each version first shows up.
func (l *eventLog) probe(ctx context.Context, topic string, p int) {
	r := kafka.NewReader(cluster.ReaderConfig(kafka.ReaderConfig{
		Topic: topic, Partition: p,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond, ReadLagInterval: -1,
	}))
	defer closeBounded(r.Close)
	r.SetOffset(kafka.FirstOffset)
	for ctx.Err() == nil {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var ev topics.CustomerEvent
		if json.Unmarshal(m.Value, &ev) != nil {
			continue
		}
		l.mu.Lock()
		if k := (eventKey{ev.ClienteID, ev.Version}); l.onTopic[k].IsZero() {
			l.onTopic[k] = time.Now()
		}
		l.mu.Unlock()
	}
}

func (l *eventLog) has(k eventKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[k] != nil
}

// outboxOf returns the outbox collection of the scenario's database, to
// see whether events are still waiting to be published.
func outboxOf(t *testing.T, sc *scenario) *mongo.Collection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(mongoURI).SetServerSelectionTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	return client.Database(sc.envValue("MONGODB_DATABASE")).Collection("outbox")
}

func countBounded(ctx context.Context, coll *mongo.Collection) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return coll.CountDocuments(ctx, bson.D{})
}

type clienteVersion struct {
	ID      int64  `json:"id"`
	DNI     string `json:"dni"`
	Version int64  `json:"version"`
	Activo  bool   `json:"activo"`
}

// TestWorkerKilledDuringCommandsLosesNoEvent runs 1,000 customers' lives
// (creates, updates, deactivations, reactivations: ~1,900 changes, each
// sent with an idempotency key by a client that retries) while the worker
// is killed -9 and restarted, and reads the customer events topic as
// another service would: every version of every customer must come out,
// with the right type, and no version that does not exist.
func TestWorkerKilledDuringCommandsLosesNoEvent(t *testing.T) {
	skipUnlessEnabled(t)
	sc := newScenario(t, "events-kill9", "REQUEST_TIMEOUT=2s")
	worker := sc.start(t, "worker", "worker-1")
	edge := sc.start(t, "edge", "edge")
	base := "http://" + edge.addr
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	// The follower starts first and reads everything from the beginning.
	reader := topics.NewCustomerEventReader(cluster, sc.envValue("TOPIC_CUSTOMER_EVENTS"), "faults-follower-"+sc.name)
	events := &eventLog{seen: map[eventKey]*seenEvent{}, lastVer: map[int64]int64{}, onTopic: map[eventKey]time.Time{}}
	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	readerDone := make(chan struct{})
	partitions, _ := strconv.Atoi(sc.envValue("TOPIC_PARTITIONS"))
	for p := range partitions {
		readers.Add(1)
		go func() { defer readers.Done(); events.probe(readCtx, sc.envValue("TOPIC_CUSTOMER_EVENTS"), p) }()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for readCtx.Err() == nil {
			ev, err := reader.Next(readCtx)
			switch {
			case err == nil:
				events.add(ev, time.Now())
			case readCtx.Err() != nil:
				return
			case handlers.ErrorCode(err) == handlers.CodeInvalid:
				events.mu.Lock()
				events.bad = append(events.bad, err.Error())
				events.mu.Unlock()
			default:
				time.Sleep(100 * time.Millisecond) // the broker; try again
			}
		}
	}()
	go func() { readers.Wait(); close(readerDone) }()
	defer func() {
		stopReading()
		<-readerDone
		closeBounded(reader.Close)
	}()

	const n = 1000
	const killAfter = 500
	lives := make([][]change, n)
	planned := 0
	for i := range n {
		lives[i] = lifeOf(sc, i)
		planned += len(lives[i])
	}
	type ack struct {
		id      int64
		version int64
		at      time.Time
	}
	acks := make([][]ack, n) // per customer, in order
	var statuses statusCounts
	var acked atomic.Int64
	var once sync.Once
	disrupted := make(chan error, 1)
	var downtime time.Duration
	var worker2 *proc
	var errMu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		errMu.Lock()
		defer errMu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	start := time.Now()
	parallel(ctx, n, func(i int) {
		var id int64
		for step, c := range lives[i] {
			target := base + "/cliente"
			if c.method != "POST" {
				target = fmt.Sprintf("%s/cliente/%d", base, id)
			}
			o := sendRetrying(ctx, c.method, target, c.body, c.key, &statuses, 0)
			status, version, body := o.status, o.version, o.body
			if status != c.status {
				if status != -1 {
					fail("customer %d change %d (%s %s): status %d: %s", i, step+1, c.method, c.kind, status, body)
				}
				break // its outcome is open: the rest of the life is not sent
			}
			if c.method == "POST" {
				var cv clienteVersion
				if err := json.Unmarshal(body, &cv); err != nil || cv.ID <= 0 {
					fail("customer %d: create answered %s", i, body)
					break
				}
				id, version = cv.ID, cv.Version
			}
			acks[i] = append(acks[i], ack{id, version, time.Now()})
			if version != int64(step+1) {
				fail("customer %d (id %d) change %d (%s %s) answered version %d", i, id, step+1, c.method, c.kind, version)
			}
			if acked.Add(1) == killAfter {
				once.Do(func() {
					go func() {
						t0 := time.Now()
						worker.kill9()
						p, err := sc.launch(t, "worker", "worker-2")
						worker2, downtime = p, time.Since(t0)
						disrupted <- err
					}()
				})
			}
		}
	})
	loadEnd := time.Now()
	loadTook := loadEnd.Sub(start)
	if acked.Load() < killAfter {
		t.Fatalf("only %d changes acknowledged: the worker was never killed", acked.Load())
	}
	var disruptErr error
	select {
	case disruptErr = <-disrupted:
	case <-time.After(3 * time.Minute):
		disruptErr = fmt.Errorf("the kill never happened, or the restart took over 3 minutes (%d changes acknowledged)", acked.Load())
	}
	if disruptErr != nil {
		t.Fatalf("restart: %v", disruptErr)
	}
	for _, f := range failures[:min(20, len(failures))] {
		t.Error(f)
	}

	// Every customer that exists, and its final version.
	list, err := getAllPages[clienteVersion](ctx, base, "/cliente", 90*time.Second)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	indexOf := map[string]int{}
	for i := range n {
		indexOf[dniOf(sc.name, i)] = i
	}
	var want []eventKey
	final := map[int64]clienteVersion{}
	for _, c := range list {
		final[c.ID] = c
		for v := int64(1); v <= c.Version; v++ {
			want = append(want, eventKey{c.ID, v})
		}
		if i, ok := indexOf[c.DNI]; !ok {
			t.Errorf("customer %d (dni %s) is none of this test's", c.ID, c.DNI)
		} else if len(acks[i]) == len(lives[i]) && c.Version != int64(len(lives[i])) {
			t.Errorf("customer %d (#%d): %d changes acknowledged, final version %d", c.ID, i, len(lives[i]), c.Version)
		}
	}

	// Wait until every version has come out and the outbox is empty.
	outbox := outboxOf(t, sc)
	var missing []eventKey
	var outboxLeft int64
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		missing = missing[:0]
		for _, k := range want {
			if !events.has(k) {
				missing = append(missing, k)
			}
		}
		var err error
		outboxLeft, err = countBounded(ctx, outbox)
		if err != nil {
			outboxLeft = -1
		}
		if len(missing) == 0 && outboxLeft == 0 {
			break
		}
		if time.Now().After(deadline) {
			break
		}
	}
	allSeenAfter := time.Since(loadEnd)
	time.Sleep(2 * time.Second) // stragglers: duplicates, or versions that should not exist
	stopReading()
	<-readerDone

	events.mu.Lock()
	defer events.mu.Unlock()
	for _, k := range missing[:min(20, len(missing))] {
		t.Errorf("no event for customer %d version %d (final version %d)", k.id, k.version, final[k.id].Version)
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d versions never came out on the events topic within 2 minutes (outbox holds %d)", len(missing), len(want), outboxLeft)
	} else if outboxLeft != 0 {
		t.Errorf("the outbox still holds %d events 2 minutes after the load", outboxLeft)
	}
	duplicates, unexpected, wrongType := 0, 0, 0
	for k, s := range events.seen {
		duplicates += s.count - 1
		c, ok := final[k.id]
		if !ok || k.version < 1 || k.version > c.Version {
			if unexpected++; unexpected <= 10 {
				t.Errorf("event for customer %d version %d, which does not exist (exists %v, final version %d)", k.id, k.version, ok, c.Version)
			}
			continue
		}
		if len(s.types) != 1 {
			t.Errorf("customer %d version %d came out with several types %v", k.id, k.version, s.types)
		}
		i := indexOf[c.DNI]
		if int(k.version) <= len(acks[i]) {
			want := topics.CustomerEventType(lives[i][k.version-1].kind)
			if !s.types[want] {
				if wrongType++; wrongType <= 10 {
					t.Errorf("customer %d version %d: type %v, want %s", k.id, k.version, s.types, want)
				}
			}
		}
	}
	for _, b := range events.bad[:min(10, len(events.bad))] {
		t.Errorf("malformed event: %s", b)
	}

	// Relays never let a version overtake a lower one of its customer, also
	// when the relay holding the lower one was killed (CONTRACT.md §12).
	for _, l := range events.late[:min(10, len(events.late))] {
		t.Errorf("out of version order: %s", l)
	}

	// From each acknowledged answer to its event: on the topic (the
	// partition probe) and at the follower.
	var toTopic, toFollower []time.Duration
	for i := range n {
		for _, a := range acks[i] {
			k := eventKey{a.id, a.version}
			if at := events.onTopic[k]; !at.IsZero() {
				toTopic = append(toTopic, at.Sub(a.at))
			}
			if s := events.seen[k]; s != nil {
				toFollower = append(toFollower, s.first.Sub(a.at))
			}
		}
	}
	pct := func(d []time.Duration) string {
		if len(d) == 0 {
			return "none"
		}
		slices.Sort(d)
		at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond) }
		return fmt.Sprintf("median %v, p99 %v, max %v", at(0.5), at(0.99), at(1))
	}
	published, _ := scrape(worker2, "cliente_worker_customer_events_published_total")
	t.Logf("FIGURES kill -9 worker during commands, customer events: %d changes planned for %d customers, %d acknowledged in %v; worker killed after %d acknowledgements and ready again after %v; answers %v; "+
		"%d customers exist, %d events expected (one per version), %d events read, %d distinct versions seen, %d duplicates, %d versions first seen after a higher one, %d for versions that do not exist, %d of the wrong type, %d missing; "+
		"every version out %v after the last answer; delay from the HTTP answer to the event on the topic: %s; to the follower: %s (worker-2 relay published %v)",
		planned, n, acked.Load(), loadTook.Round(time.Millisecond), killAfter, downtime.Round(time.Millisecond), statuses.String(),
		len(list), len(want), events.total, len(events.seen), duplicates, len(events.late), unexpected, wrongType, len(missing),
		allSeenAfter.Round(time.Millisecond), pct(toTopic), pct(toFollower), published[""])
	if acked.Load() != int64(planned) {
		t.Errorf("%d of %d changes acknowledged: clients retry until a final answer", acked.Load(), planned)
	}
}

// closeBounded closes with a bound: a reader leaving its group must not
// hang the test.
func closeBounded(closeFn func() error) {
	done := make(chan struct{})
	go func() { closeFn(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}
