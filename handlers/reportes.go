package handlers

import (
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // report dates are Lima dates, on any machine

	"github.com/nyaruka/phonenumbers"

	"github.com/jea/cliente/handlers/ubigeo"
)

// Reports count customers into buckets ("adq|2026-01-05" counts the
// customers registered that day). Each customer adds a fixed set of
// buckets, its Contribucion, a pure function of the customer and its
// purchases; a report is the sum of every customer's contribution. The
// sums are kept up to date (Projector) rather than computed by scanning:
// see reportes_proyector.go for how, exactly and crash-safely.

// Report families: the prefix of a bucket, one counters document each.
const (
	FamiliaAdquisicion = "adq"
	FamiliaRetencion   = "ret"
	FamiliaGeografia   = "geo"
	FamiliaCanales     = "can"
	FamiliaValor       = "val"
)

// Familias are every report family.
var Familias = []string{FamiliaAdquisicion, FamiliaRetencion, FamiliaGeografia, FamiliaCanales, FamiliaValor}

// Contact channels and phone kinds (canales report).
const (
	CanalSoloEmail    = "soloEmail"
	CanalSoloTelefono = "soloTelefono"
	CanalAmbos        = "ambos"
	CanalNinguno      = "ninguno"
	TelefonoMovil     = "movil"
	TelefonoFijo      = "fijo"
	TelefonoOtro      = "otro"
)

// SinUbicar names the customers, or the provincia, an address does not
// place.
const SinUbicar = "sin ubicar"

// Contribucion is what one customer adds to the reports. The zero value
// adds nothing (a customer that does not exist).
type Contribucion struct {
	// Dia is the Lima date of fechaRegistro, YYYY-MM-DD; its first seven
	// characters are the cohort.
	Dia    string
	Activo bool
	// Departamento and Provincia place the address; both empty when it
	// cannot be placed, Provincia empty when only the departamento is known.
	Departamento, Provincia string
	Canal                   string
	// Telefono is the kind of phone (Telefono*), empty without one.
	Telefono string
	// Meses are the Lima months, from the cohort's on, in which the
	// customer made a purchase that counts, sorted.
	Meses []string
	// Valor holds the customer's RFM cell in each currency it bought in,
	// by currency code.
	Valor []CeldaValor
}

// CeldaValor places a customer's purchases in one currency for the RFM
// segments: the month of its last purchase (recency is measured from it
// when the report is read), its frequency class and whether its spend is
// high.
type CeldaValor struct {
	Moneda    string
	UltimoMes string
	// Frecuencia is the class of the number of purchases: 1 (one), 2 (two
	// to four), 3 (five or more).
	Frecuencia int
	Alto       bool
	Gasto      int64 // minor units
}

// Equal reports whether a and b add the same buckets.
func (a Contribucion) Equal(b Contribucion) bool {
	return a.Dia == b.Dia && a.Activo == b.Activo && a.Departamento == b.Departamento && a.Provincia == b.Provincia &&
		a.Canal == b.Canal && a.Telefono == b.Telefono && slices.Equal(a.Meses, b.Meses) && slices.Equal(a.Valor, b.Valor)
}

// Claves returns the buckets c adds to and by how much.
func (c Contribucion) Claves() map[string]int64 {
	out := map[string]int64{}
	if c.Dia == "" {
		return out
	}
	b := func(amount int64, parts ...string) {
		if amount != 0 {
			out[strings.Join(parts, "|")] += amount
		}
	}
	activo := int64(0)
	if c.Activo {
		activo = 1
	}
	cohorte := c.Dia[:7]
	b(1, FamiliaAdquisicion, c.Dia)
	b(1, FamiliaRetencion, cohorte, "clientes")
	b(activo, FamiliaRetencion, cohorte, "activos")
	for _, m := range c.Meses {
		b(1, FamiliaRetencion, cohorte, m)
	}
	b(1, FamiliaGeografia, c.Departamento, c.Provincia, "total")
	b(activo, FamiliaGeografia, c.Departamento, c.Provincia, "activos")
	if c.Activo {
		b(1, FamiliaCanales, c.Canal)
		if c.Telefono != "" {
			b(1, FamiliaCanales, "telefono", c.Telefono)
		}
	}
	for _, v := range c.Valor {
		cell := []string{FamiliaValor, v.Moneda, v.UltimoMes, strconv.Itoa(v.Frecuencia), strconv.FormatBool(v.Alto)}
		b(1, append(cell, "clientes")...)
		b(v.Gasto, append(cell, "gasto")...)
	}
	return out
}

// Delta returns what moving a customer's contribution from a to b adds to
// each bucket (zero changes left out).
func Delta(a, b Contribucion) map[string]int64 {
	out := b.Claves()
	for k, n := range a.Claves() {
		out[k] -= n
		if out[k] == 0 {
			delete(out, k)
		}
	}
	return out
}

// FamiliaDe returns the family of bucket key.
func FamiliaDe(key string) string {
	f, _, _ := strings.Cut(key, "|")
	return f
}

// zonaLima is the time zone of report dates and months; read-only.
var zonaLima = func() *time.Location {
	zona, err := time.LoadLocation("America/Lima")
	if err != nil {
		panic("handlers: time/tzdata is linked in, so America/Lima always loads: " + err.Error())
	}
	return zona
}()

// Analizador derives contributions: it holds the list of places. Safe for
// concurrent use.
type Analizador struct {
	lugares *ubigeo.Catalogo
	zona    *time.Location
}

// NewAnalizador loads the list of places.
func NewAnalizador() *Analizador {
	return &Analizador{lugares: ubigeo.New(), zona: zonaLima}
}

// Contribucion is what customer c, with purchase totals a, adds to the
// reports. The totals hold all the history it needs (Agregados.Meses, the
// last purchase per currency), so the projector reads one document per
// customer, not its whole history.
func (a *Analizador) Contribucion(c Cliente, t Agregados) Contribucion {
	out := Contribucion{Dia: c.FechaRegistro.In(a.zona).Format(time.DateOnly), Activo: c.Activo}
	if l, ok := a.lugares.Ubicar(c.Direccion); ok {
		out.Departamento, out.Provincia = l.Departamento, l.Provincia
	}
	out.Canal = canal(c.Email != "", c.Telefono != "")
	if c.Telefono != "" {
		out.Telefono = tipoTelefono(c.Telefono)
	}
	cohorte := out.Dia[:7]
	for _, m := range t.Meses {
		if m >= cohorte {
			out.Meses = append(out.Meses, m)
		}
	}
	for _, m := range t.PorMoneda {
		if m.Compras == 0 {
			continue
		}
		out.Valor = append(out.Valor, CeldaValor{Moneda: m.Moneda, UltimoMes: a.Mes(m.Ultima),
			Frecuencia: claseFrecuencia(m.Compras), Alto: m.Minor >= UmbralGastoAlto(m.Moneda), Gasto: m.Minor})
	}
	slices.SortFunc(out.Valor, func(x, y CeldaValor) int { return strings.Compare(x.Moneda, y.Moneda) })
	return out
}

// Mes is t's Lima month, YYYY-MM.
func (a *Analizador) Mes(t time.Time) string { return t.In(a.zona).Format("2006-01") }

// Hoy is t's Lima date.
func (a *Analizador) Hoy(t time.Time) time.Time {
	y, m, d := t.In(a.zona).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Departamento returns the official name of departamento name, any case or
// accents, or SinUbicar for "sin ubicar".
func (a *Analizador) Departamento(name string) (string, bool) {
	if strings.EqualFold(strings.TrimSpace(name), SinUbicar) {
		return SinUbicar, true
	}
	return a.lugares.Departamento(name)
}

func canal(email, telefono bool) string {
	switch {
	case email && telefono:
		return CanalAmbos
	case email:
		return CanalSoloEmail
	case telefono:
		return CanalSoloTelefono
	}
	return CanalNinguno
}

// tipoTelefono tells a mobile from a landline with libphonenumber's
// metadata; numbers are stored in E.164.
func tipoTelefono(e164 string) string {
	n, err := phonenumbers.Parse(e164, "PE")
	if err != nil {
		return TelefonoOtro
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.MOBILE:
		return TelefonoMovil
	case phonenumbers.FIXED_LINE:
		return TelefonoFijo
	}
	return TelefonoOtro
}
