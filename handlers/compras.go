package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// Compra is a sale of the sales service attached to a customer: one entry
// of its purchase history. The sale id (VentaID) identifies it, so applying
// the same event twice changes nothing.
type Compra struct {
	VentaID   string
	ClienteID int64
	Fecha     time.Time
	Total     Importe
	Items     int
	// Registrada is false for a cancellation that arrived before its sale:
	// it is kept so that the sale, when it comes, is born cancelled.
	Registrada     bool
	Anulada        bool
	FechaAnulacion time.Time // zero unless Anulada
	// ClienteInactivo records that the customer was inactive when the sale
	// arrived: it is attached (the sale happened), but flagged.
	ClienteInactivo bool
}

// MismaVenta reports whether two registrations describe the same sale, so
// that a redelivered event is told from a sale id reused for another sale.
func (c Compra) MismaVenta(o Compra) bool {
	return c.VentaID == o.VentaID && c.ClienteID == o.ClienteID && c.Fecha.Equal(o.Fecha) &&
		c.Total == o.Total && c.Items == o.Items
}

// MarshalJSON writes a purchase as the history routes show it; amounts are
// decimal strings in the sale's currency.
func (c Compra) MarshalJSON() ([]byte, error) {
	out := struct {
		VentaID         string `json:"ventaId"`
		ClienteID       int64  `json:"clienteId"`
		Fecha           string `json:"fecha"`
		Total           string `json:"total"`
		Moneda          string `json:"moneda"`
		Items           int    `json:"items"`
		Anulada         bool   `json:"anulada"`
		FechaAnulacion  string `json:"fechaAnulacion,omitempty"`
		ClienteInactivo bool   `json:"clienteInactivo,omitempty"`
	}{
		VentaID: c.VentaID, ClienteID: c.ClienteID, Fecha: formatFecha(c.Fecha),
		Total: c.Total.String(), Moneda: c.Total.Moneda, Items: c.Items,
		Anulada: c.Anulada, ClienteInactivo: c.ClienteInactivo,
	}
	if c.Anulada {
		out.FechaAnulacion = formatFecha(c.FechaAnulacion)
	}
	return json.Marshal(out)
}

func formatFecha(t time.Time) string { return t.UTC().Format(fechaLayout) }

// DatosVenta is the payload of a "sale registered" event as received.
// Pointers tell absent fields from zero ones, so each is named when missing.
type DatosVenta struct {
	VentaID   *string `json:"ventaId"`
	ClienteID *int64  `json:"clienteId"`
	Fecha     *string `json:"fecha"`
	// Total is a decimal number, as a JSON number or string ("149.90").
	Total  *json.Number `json:"total"`
	Moneda *string      `json:"moneda"`
	Items  *int         `json:"items"`
}

// DatosAnulacion is the payload of a "sale cancelled" event.
type DatosAnulacion struct {
	VentaID   *string `json:"ventaId"`
	ClienteID *int64  `json:"clienteId"`
	Fecha     *string `json:"fecha"`
}

// Limits of a sales event.
const (
	maxVentaID = 64
	maxItems   = 100_000
	// maxAdelanto is how far in the future a sale may be dated: clocks of
	// the sales service and ours may disagree, by little.
	maxAdelanto = 24 * time.Hour
)

// ValidarVenta checks a "sale registered" payload against the clock now
// and returns the purchase it describes, or an *Error with CodeInvalid
// naming every wrong field.
func ValidarVenta(d DatosVenta, now time.Time) (Compra, error) {
	var c Compra
	v := fieldErrors{}
	c.VentaID = v.ventaID(d.VentaID)
	c.ClienteID = v.clienteID(d.ClienteID)
	c.Fecha = v.fecha("fecha", d.Fecha, now)

	moneda := ""
	if d.Moneda == nil || strings.TrimSpace(*d.Moneda) == "" {
		v.fail("moneda", "is required")
	} else if m, msg := NormalizeMoneda(*d.Moneda); msg != "" {
		v.fail("moneda", msg)
	} else {
		moneda = m
	}
	switch {
	case d.Total == nil || *d.Total == "":
		v.fail("total", "is required")
	case moneda != "":
		imp, msg := ParseImporte(string(*d.Total), moneda)
		if msg != "" {
			v.fail("total", msg)
		}
		c.Total = imp
	}

	switch {
	case d.Items == nil:
		v.fail("items", "is required")
	case *d.Items < 1 || *d.Items > maxItems:
		v.fail("items", "must be between 1 and 100000")
	default:
		c.Items = *d.Items
	}
	if err := v.err("the sale event is not valid"); err != nil {
		return Compra{}, err
	}
	c.Registrada = true
	return c, nil
}

// ValidarAnulacion checks a "sale cancelled" payload.
func ValidarAnulacion(d DatosAnulacion, now time.Time) (ventaID string, clienteID int64, fecha time.Time, err error) {
	v := fieldErrors{}
	ventaID = v.ventaID(d.VentaID)
	clienteID = v.clienteID(d.ClienteID)
	fecha = v.fecha("fecha", d.Fecha, now)
	return ventaID, clienteID, fecha, v.err("the cancellation event is not valid")
}

// fieldErrors collects the problems of one payload.
type fieldErrors []FieldError

func (v *fieldErrors) fail(field, msg string) {
	*v = append(*v, FieldError{Field: field, Message: msg})
}

func (v fieldErrors) err(message string) error {
	if len(v) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: message, Fields: v}
}

func (v *fieldErrors) ventaID(s *string) string {
	switch {
	case s == nil || *s == "":
		v.fail("ventaId", "is required")
	case len(*s) > maxVentaID || !printableASCII(*s) || strings.TrimSpace(*s) != *s:
		v.fail("ventaId", "must be 1 to 64 printable ASCII characters, without surrounding spaces")
	default:
		return *s
	}
	return ""
}

func (v *fieldErrors) clienteID(id *int64) int64 {
	switch {
	case id == nil:
		v.fail("clienteId", "is required")
	case *id <= 0:
		v.fail("clienteId", "must be a positive integer")
	default:
		return *id
	}
	return 0
}

func (v *fieldErrors) fecha(field string, s *string, now time.Time) time.Time {
	if s == nil || *s == "" {
		v.fail(field, "is required")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	switch {
	case err != nil:
		v.fail(field, "must be an RFC 3339 date-time with a time zone, e.g. 2026-11-25T15:04:05Z")
	case t.Year() < 2000:
		v.fail(field, "must not be before the year 2000")
	case t.After(now.Add(maxAdelanto)):
		v.fail(field, "must not be in the future")
	default:
		return truncateToMillis(t)
	}
	return time.Time{}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Agregados are a customer's purchase totals, as stored: a pure function of
// its purchases (Agregar), so recomputing them is always safe.
type Agregados struct {
	ClienteID int64
	// Compras counts the sales that count (registered, not cancelled);
	// Anuladas the registered sales that were cancelled.
	Compras, Anuladas, Items int
	// Primera and Ultima are the dates of the first and last purchase that
	// counts; zero when there is none.
	Primera, Ultima time.Time
	// PorMoneda holds one total per currency, by currency code: amounts in
	// different currencies are never added up.
	PorMoneda []TotalMoneda
}

// TotalMoneda is what a customer spent in one currency.
type TotalMoneda struct {
	Moneda  string
	Compras int
	Minor   int64
}

// Agregar computes a customer's totals from all its purchases.
func Agregar(clienteID int64, compras []Compra) Agregados {
	a := Agregados{ClienteID: clienteID}
	for _, c := range compras {
		a = a.Con(c)
	}
	return a
}

// Con returns the totals with one more purchase, c, which they must not
// include yet: the same as Agregar over the purchases plus c.
func (a Agregados) Con(c Compra) Agregados {
	out := a
	out.PorMoneda = slices.Clone(a.PorMoneda)
	switch {
	case !c.Registrada:
		return out
	case c.Anulada:
		out.Anuladas++
		return out
	}
	out.Compras++
	out.Items += c.Items
	if out.Primera.IsZero() || c.Fecha.Before(out.Primera) {
		out.Primera = c.Fecha
	}
	if c.Fecha.After(out.Ultima) {
		out.Ultima = c.Fecha
	}
	i, found := slices.BinarySearchFunc(out.PorMoneda, c.Total.Moneda, func(t TotalMoneda, m string) int { return strings.Compare(t.Moneda, m) })
	if !found {
		out.PorMoneda = slices.Insert(out.PorMoneda, i, TotalMoneda{Moneda: c.Total.Moneda})
	}
	out.PorMoneda[i].Compras++
	out.PorMoneda[i].Minor += c.Total.Minor
	return out
}

// Equal reports whether a and b hold the same totals.
func (a Agregados) Equal(b Agregados) bool {
	return a.ClienteID == b.ClienteID && a.Compras == b.Compras && a.Anuladas == b.Anuladas &&
		a.Items == b.Items && a.Primera.Equal(b.Primera) && a.Ultima.Equal(b.Ultima) &&
		slices.Equal(a.PorMoneda, b.PorMoneda)
}

// Resumen is a customer's purchase summary as clients read it: the stored
// totals plus what is derived from them and the clock.
type Resumen struct {
	ClienteID int64 `json:"clienteId"`
	Compras   int   `json:"compras"`
	Anuladas  int   `json:"anuladas"`
	Items     int   `json:"items"`
	// PrimeraCompra and UltimaCompra are null without purchases.
	PrimeraCompra *string `json:"primeraCompra"`
	UltimaCompra  *string `json:"ultimaCompra"`
	// DiasEntreCompras is the mean gap between purchases, null below two.
	DiasEntreCompras *float64        `json:"diasEntreCompras"`
	PorMoneda        []ResumenMoneda `json:"porMoneda"`
}

// ResumenMoneda is the spending in one currency. Amounts are decimal
// strings. Lifetime value (valorVida) is what the customer has spent plus
// what it is expected to spend in the next 12 months at its mean monthly
// spend so far (gastoMensual); an inactive customer is expected to spend
// nothing more.
type ResumenMoneda struct {
	Moneda         string `json:"moneda"`
	Compras        int    `json:"compras"`
	TotalGastado   string `json:"totalGastado"`
	TicketPromedio string `json:"ticketPromedio"`
	GastoMensual   string `json:"gastoMensual"`
	ValorVida      string `json:"valorVida"`
}

// diasPorMes is the month of the monthly spend: 30 days, so the figure does
// not jump with calendar months.
const diasPorMes = 30

// NewResumen derives the summary of a at now for a customer whose status is
// activo. gastoMensual spreads the total over the days since the first
// purchase, at least one month, so a single recent purchase is not
// extrapolated wildly.
func NewResumen(a Agregados, activo bool, now time.Time) Resumen {
	r := Resumen{ClienteID: a.ClienteID, Compras: a.Compras, Anuladas: a.Anuladas, Items: a.Items, PorMoneda: []ResumenMoneda{}}
	if a.Compras == 0 {
		return r
	}
	primera, ultima := formatFecha(a.Primera), formatFecha(a.Ultima)
	r.PrimeraCompra, r.UltimaCompra = &primera, &ultima
	if a.Compras > 1 {
		days := a.Ultima.Sub(a.Primera).Hours() / 24 / float64(a.Compras-1)
		days = float64(int64(days*100+0.5)) / 100 // two decimals are plenty
		r.DiasEntreCompras = &days
	}
	tenureDays := max(int64(now.Sub(a.Primera)/(24*time.Hour)), diasPorMes)
	for _, t := range a.PorMoneda {
		monthly := divRound(t.Minor*diasPorMes, tenureDays)
		future := int64(0)
		if activo {
			future = 12 * monthly
		}
		r.PorMoneda = append(r.PorMoneda, ResumenMoneda{
			Moneda:         t.Moneda,
			Compras:        t.Compras,
			TotalGastado:   FormatMinor(t.Minor, t.Moneda),
			TicketPromedio: FormatMinor(divRound(t.Minor, int64(t.Compras)), t.Moneda),
			GastoMensual:   FormatMinor(monthly, t.Moneda),
			ValorVida:      FormatMinor(t.Minor+future, t.Moneda),
		})
	}
	return r
}

// Paging of a purchase history.
const (
	DefaultLimiteCompras = 20
	MaxLimiteCompras     = 100
)

// CursorCompras is where a page of history ends: the history is ordered by
// date, newest first, then by sale id, descending.
type CursorCompras struct {
	Fecha   time.Time
	VentaID string
}

type cursorWire struct {
	F int64  `json:"f"` // Unix milliseconds
	V string `json:"v"`
}

// Encode returns the cursor as an opaque URL-safe string.
func (c CursorCompras) Encode() string {
	raw, _ := json.Marshal(cursorWire{F: c.Fecha.UnixMilli(), V: c.VentaID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// DecodeCursorCompras reads a cursor that Encode made.
func DecodeCursorCompras(s string) (CursorCompras, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	var w cursorWire
	if err == nil {
		err = json.Unmarshal(raw, &w)
	}
	if err != nil || w.V == "" || len(w.V) > maxVentaID {
		return CursorCompras{}, invalidField("cursor", "is not a cursor this service gave")
	}
	return CursorCompras{Fecha: time.UnixMilli(w.F).UTC(), VentaID: w.V}, nil
}

// PaginaCompras selects one page of a customer's history.
type PaginaCompras struct {
	Limite int
	// Despues, when set, starts the page right after that cursor.
	Despues *CursorCompras
}

// HistorialCompras is one page of a purchase history. Siguiente is the
// cursor of the next page, empty on the last one.
type HistorialCompras struct {
	ClienteID int64    `json:"clienteId"`
	Compras   []Compra `json:"compras"`
	Siguiente string   `json:"siguiente,omitempty"`
}

// Historial stores purchases and their per-customer totals. Implementations
// must:
//   - keep one purchase per sale id, whatever the order and number of times
//     registrations and cancellations arrive;
//   - store totals under a revision that grows by one on every save, and
//     refuse a save made against an older revision with ErrRevision, so
//     that concurrent recomputations never store stale totals.
//
// storetest.RunHistorial is the suite every implementation passes.
type Historial interface {
	// RegistrarCompra stores c (Registrada) unless its sale is already
	// registered: then it reports EstadoDuplicada if the stored sale is the
	// same (MismaVenta), EstadoConflicto if not, and changes nothing. A
	// cancellation stored before keeps the sale cancelled: on EstadoNueva
	// the returned purchase is c, with Anulada set if so.
	RegistrarCompra(ctx context.Context, c Compra) (EstadoCompra, Compra, error)
	// AnularCompra marks sale ventaID cancelled at fecha (the first
	// cancellation wins), storing a cancellation for customer clienteID if
	// the sale is not known yet. It returns the purchase as stored after.
	AnularCompra(ctx context.Context, ventaID string, clienteID int64, fecha time.Time) (Compra, error)
	// ComprasDe returns the customer's registered purchases, cancelled or
	// not, in any order.
	ComprasDe(ctx context.Context, clienteID int64) ([]Compra, error)
	// PaginaCompras returns registered purchases of the customer, newest
	// first (date, then sale id, descending), after p.Despues, at most
	// p.Limite.
	PaginaCompras(ctx context.Context, clienteID int64, p PaginaCompras) ([]Compra, error)
	// Agregados returns the stored totals and their revision; zero totals
	// at revision 0 if none were stored.
	Agregados(ctx context.Context, clienteID int64) (Agregados, int64, error)
	// GuardarAgregados stores a as revision+1 if the stored revision is
	// still revision, else fails with ErrRevision.
	GuardarAgregados(ctx context.Context, a Agregados, revision int64) error
}

// EstadoCompra is what RegistrarCompra did.
type EstadoCompra string

const (
	EstadoNueva      EstadoCompra = "nueva"
	EstadoDuplicada  EstadoCompra = "duplicada"
	EstadoConflicto  EstadoCompra = "conflicto"
	revisionAttempts              = 10
)

// ErrRevision: the totals were saved by someone else in between.
var ErrRevision = errors.New("purchase totals changed concurrently")

// Outcomes of a sales event (ResultadoVenta.Resultado).
const (
	// VentaAplicada: the history and totals now include the event.
	VentaAplicada = "aplicada"
	// VentaDuplicada: the event was applied before; totals are checked again.
	VentaDuplicada = "duplicada"
	// VentaRechazada: the event is not attached to any customer; Motivo says
	// why (MotivoNoEncontrado, MotivoConflicto).
	VentaRechazada = "rechazada"
)

// MotivoConflicto: the sale id is already registered for a different sale.
const MotivoConflicto = "conflicto"

// ResultadoVenta tells what applying one sales event did.
type ResultadoVenta struct {
	Resultado string `json:"resultado"`
	// Motivo explains a rejection, or flags an applied sale of an inactive
	// customer (MotivoInactivo).
	Motivo    string `json:"motivo,omitempty"`
	VentaID   string `json:"ventaId"`
	ClienteID int64  `json:"clienteId"`
}

// WithHistorial gives the service a purchase history store.
func (s *Service) WithHistorial(h Historial) *Service {
	s.historial = h
	return s
}

func (s *Service) needHistorial() error {
	if s.historial == nil {
		return Errorf(CodeInternal, "purchase history is not configured")
	}
	return nil
}

// RegistrarVenta applies a "sale registered" event. A sale of a customer
// that does not exist is rejected, never attached; a sale of an inactive
// customer is attached and flagged (it did happen), so the caller can
// report both. Totals are recomputed every time, also for a duplicate: a
// crash between storing the sale and storing the totals is healed by the
// redelivery.
func (s *Service) RegistrarVenta(ctx context.Context, d DatosVenta) (ResultadoVenta, error) {
	if err := s.needHistorial(); err != nil {
		return ResultadoVenta{}, err
	}
	c, err := ValidarVenta(d, s.now())
	if err != nil {
		return ResultadoVenta{}, err
	}
	res := ResultadoVenta{VentaID: c.VentaID, ClienteID: c.ClienteID}
	cliente, err := s.store.Get(ctx, c.ClienteID)
	switch {
	case ErrorCode(err) == CodeNotFound:
		res.Resultado, res.Motivo = VentaRechazada, MotivoNoEncontrado
		return res, nil
	case err != nil:
		return ResultadoVenta{}, err
	case !cliente.Activo:
		c.ClienteInactivo = true
		res.Motivo = MotivoInactivo
	}
	// Totals read before the sale is stored cannot include it: adding it to
	// them is exact, if nobody saved totals in between (the revision check).
	before, rev, err := s.historial.Agregados(ctx, c.ClienteID)
	if err != nil {
		return ResultadoVenta{}, err
	}
	estado, stored, err := s.historial.RegistrarCompra(ctx, c)
	if err != nil {
		return ResultadoVenta{}, err
	}
	switch estado {
	case EstadoConflicto:
		res.Resultado, res.Motivo = VentaRechazada, MotivoConflicto
		return res, nil
	case EstadoDuplicada:
		// Maybe a redelivery after a crash before the totals were saved:
		// only a recomputation knows.
		res.Resultado = VentaDuplicada
		return res, s.recalcular(ctx, c.ClienteID)
	}
	res.Resultado = VentaAplicada
	err = s.historial.GuardarAgregados(ctx, before.Con(stored), rev)
	if errors.Is(err, ErrRevision) {
		err = s.recalcular(ctx, c.ClienteID)
	}
	return res, err
}

// AnularVenta applies a "sale cancelled" event, also before its sale
// arrives.
func (s *Service) AnularVenta(ctx context.Context, d DatosAnulacion) (ResultadoVenta, error) {
	if err := s.needHistorial(); err != nil {
		return ResultadoVenta{}, err
	}
	ventaID, clienteID, fecha, err := ValidarAnulacion(d, s.now())
	if err != nil {
		return ResultadoVenta{}, err
	}
	c, err := s.historial.AnularCompra(ctx, ventaID, clienteID, fecha)
	if err != nil {
		return ResultadoVenta{}, err
	}
	// The stored sale names the customer, whatever the event said.
	return ResultadoVenta{Resultado: VentaAplicada, VentaID: ventaID, ClienteID: c.ClienteID}, s.recalcular(ctx, c.ClienteID)
}

// recalcular recomputes a customer's totals from its purchases and stores
// them, retrying when a concurrent recomputation stored first: the last
// save always read every purchase stored before it started.
func (s *Service) recalcular(ctx context.Context, clienteID int64) error {
	for range revisionAttempts {
		current, rev, err := s.historial.Agregados(ctx, clienteID)
		if err != nil {
			return err
		}
		compras, err := s.historial.ComprasDe(ctx, clienteID)
		if err != nil {
			return err
		}
		fresh := Agregar(clienteID, compras)
		if rev > 0 && fresh.Equal(current) {
			return nil
		}
		err = s.historial.GuardarAgregados(ctx, fresh, rev)
		if !errors.Is(err, ErrRevision) {
			return err
		}
	}
	return Errorf(CodeUnavailable, "purchase totals kept changing")
}

// Compras returns a page of customer id's purchase history, newest first.
// limite 0 means DefaultLimiteCompras; cursor is "" for the first page.
func (s *Service) Compras(ctx context.Context, id int64, limite int, cursor string) (HistorialCompras, error) {
	v := fieldErrors{}
	if id <= 0 {
		v.fail("id", "must be a positive integer")
	}
	if limite < 0 || limite > MaxLimiteCompras {
		v.fail("limite", "must be between 1 and 100")
	}
	p := PaginaCompras{Limite: limite}
	if p.Limite == 0 {
		p.Limite = DefaultLimiteCompras
	}
	if cursor != "" {
		cur, err := DecodeCursorCompras(cursor)
		if err != nil {
			v = append(v, AsError(err).Fields...)
		}
		p.Despues = &cur
	}
	if err := v.err("the request is not valid"); err != nil {
		return HistorialCompras{}, err
	}
	if err := s.needHistorial(); err != nil {
		return HistorialCompras{}, err
	}
	if _, err := s.store.Get(ctx, id); err != nil {
		return HistorialCompras{}, err
	}
	// One more than asked tells whether a next page exists.
	page := p
	page.Limite++
	compras, err := s.historial.PaginaCompras(ctx, id, page)
	if err != nil {
		return HistorialCompras{}, err
	}
	out := HistorialCompras{ClienteID: id, Compras: compras}
	if len(compras) > p.Limite {
		out.Compras = compras[:p.Limite]
		last := out.Compras[p.Limite-1]
		out.Siguiente = CursorCompras{Fecha: last.Fecha, VentaID: last.VentaID}.Encode()
	}
	return out, nil
}

// Resumen returns customer id's purchase summary and lifetime value.
func (s *Service) Resumen(ctx context.Context, id int64) (Resumen, error) {
	if err := checkID(id); err != nil {
		return Resumen{}, err
	}
	if err := s.needHistorial(); err != nil {
		return Resumen{}, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return Resumen{}, err
	}
	a, _, err := s.historial.Agregados(ctx, id)
	if err != nil {
		return Resumen{}, err
	}
	a.ClienteID = id
	return NewResumen(a, c.Activo, s.now()), nil
}
