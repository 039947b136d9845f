package handlers

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RFM segments (valor report, segmento filter). Recency is counted in
// whole Lima calendar months from the month of the last purchase in the
// currency to the current one; frequency is the number of purchases that
// count (registered, not cancelled) in it; monetary is what they add up to.
const (
	SegmentoCampeones    = "campeones"    // bought in the last 2 months, 5+ purchases, high spend
	SegmentoLeales       = "leales"       // bought in the last 5 months, 2+ purchases (not campeones)
	SegmentoNuevos       = "nuevos"       // bought in the last 2 months, once
	SegmentoPrometedores = "prometedores" // last (and only) purchase 3 to 5 months ago
	SegmentoEnRiesgo     = "en_riesgo"    // 2+ purchases, the last 6 to 11 months ago
	SegmentoHibernando   = "hibernando"   // one purchase, 6 to 11 months ago
	SegmentoPerdidos     = "perdidos"     // no purchase for 12 months or more
)

// Segmentos are the RFM segments, best first.
var Segmentos = []string{SegmentoCampeones, SegmentoLeales, SegmentoNuevos, SegmentoPrometedores,
	SegmentoEnRiesgo, SegmentoHibernando, SegmentoPerdidos}

// Thresholds of the RFM segments, in months since the last purchase.
const (
	mesesReciente = 2  // 0..2: recent
	mesesMedia    = 5  // 3..5
	mesesPerdido  = 12 // 12 or more: lost
)

// umbralesGasto are the high-spend thresholds in major units; other
// currencies use umbralGastoDefecto.
var umbralesGasto = map[string]int64{"PEN": 1000, "USD": 300, "EUR": 300}

const umbralGastoDefecto = 1000

// UmbralGastoAlto is the spend, in minor units of moneda, from which a
// customer's spend is high.
func UmbralGastoAlto(moneda string) int64 {
	major, ok := umbralesGasto[moneda]
	if !ok {
		major = umbralGastoDefecto
	}
	scale, _ := Escala(moneda)
	for range scale {
		major *= 10
	}
	return major
}

func claseFrecuencia(compras int) int {
	switch {
	case compras >= 5:
		return 3
	case compras >= 2:
		return 2
	}
	return 1
}

// mesesEntre counts calendar months from month a to month b (YYYY-MM).
func mesesEntre(a, b string) int {
	ya, _ := strconv.Atoi(a[:4])
	ma, _ := strconv.Atoi(a[5:7])
	yb, _ := strconv.Atoi(b[:4])
	mb, _ := strconv.Atoi(b[5:7])
	return (yb-ya)*12 + mb - ma
}

// Segmento is the RFM segment of cell v in month mes (the current one).
func Segmento(v CeldaValor, mes string) string {
	r := max(mesesEntre(v.UltimoMes, mes), 0) // a sale dated a little ahead
	switch {
	case r >= mesesPerdido:
		return SegmentoPerdidos
	case r > mesesMedia && v.Frecuencia >= 2:
		return SegmentoEnRiesgo
	case r > mesesMedia:
		return SegmentoHibernando
	case r > mesesReciente && v.Frecuencia >= 2:
		return SegmentoLeales
	case r > mesesReciente:
		return SegmentoPrometedores
	case v.Frecuencia == 3 && v.Alto:
		return SegmentoCampeones
	case v.Frecuencia >= 2:
		return SegmentoLeales
	}
	return SegmentoNuevos
}

// Umbrales documents the thresholds in the valor report.
type Umbrales struct {
	// Recencia: months since the month of the last purchase.
	MesesReciente int `json:"mesesReciente"`
	MesesMedia    int `json:"mesesMedia"`
	MesesPerdido  int `json:"mesesPerdido"`
	// Frecuencia: purchases for the "frecuente" class (campeones) and for
	// "repetida" (leales, en_riesgo).
	ComprasFrecuente int `json:"comprasFrecuente"`
	ComprasRepetida  int `json:"comprasRepetida"`
	// GastoAlto: by currency, decimal; other currencies use GastoAltoOtras
	// major units.
	GastoAlto      map[string]string `json:"gastoAlto"`
	GastoAltoOtras string            `json:"gastoAltoOtras"`
	// Mes is the current Lima month recency was measured to.
	Mes string `json:"mes"`
}

// SegmentoValor is one segment in one currency.
type SegmentoValor struct {
	Moneda   string `json:"moneda"`
	Segmento string `json:"segmento"`
	Clientes int64  `json:"clientes"`
	Gasto    string `json:"gasto"`
}

// ReporteValor is the RFM report.
type ReporteValor struct {
	Umbrales  Umbrales        `json:"umbrales"`
	Segmentos []SegmentoValor `json:"segmentos"`
}

// ReporteValor returns the customers and their spend per RFM segment and
// currency, as of now. Segments without customers are left out.
func (s *Service) ReporteValor(ctx context.Context) (ReporteValor, error) {
	n, err := s.reportes.Contadores(ctx, FamiliaValor)
	if err != nil {
		return ReporteValor{}, err
	}
	return ValorDe(n, s.analizador.Mes(s.now())), nil
}

// ValorDe builds the valor report from the valor counters, in month mes.
func ValorDe(n map[string]int64, mes string) ReporteValor {
	u := Umbrales{MesesReciente: mesesReciente, MesesMedia: mesesMedia, MesesPerdido: mesesPerdido,
		ComprasFrecuente: 5, ComprasRepetida: 2, GastoAlto: map[string]string{},
		GastoAltoOtras: strconv.Itoa(umbralGastoDefecto), Mes: mes}
	for m := range umbralesGasto {
		u.GastoAlto[m] = FormatMinor(UmbralGastoAlto(m), m)
	}
	type acc struct{ clientes, gasto int64 }
	sums := map[[2]string]*acc{}
	for key, v := range n {
		// val|PEN|2026-03|2|true|clientes
		p := strings.Split(key, "|")
		if len(p) != 6 || v == 0 {
			continue
		}
		f, _ := strconv.Atoi(p[3])
		seg := Segmento(CeldaValor{Moneda: p[1], UltimoMes: p[2], Frecuencia: f, Alto: p[4] == "true"}, mes)
		a := sums[[2]string{p[1], seg}]
		if a == nil {
			a = &acc{}
			sums[[2]string{p[1], seg}] = a
		}
		if p[5] == "clientes" {
			a.clientes += v
		} else {
			a.gasto += v
		}
	}
	out := ReporteValor{Umbrales: u, Segmentos: []SegmentoValor{}}
	for k, a := range sums {
		if a.clientes == 0 {
			continue
		}
		out.Segmentos = append(out.Segmentos, SegmentoValor{Moneda: k[0], Segmento: k[1], Clientes: a.clientes, Gasto: FormatMinor(a.gasto, k[0])})
	}
	slices.SortFunc(out.Segmentos, func(a, b SegmentoValor) int {
		if c := strings.Compare(a.Moneda, b.Moneda); c != 0 {
			return c
		}
		return slices.Index(Segmentos, a.Segmento) - slices.Index(Segmentos, b.Segmento)
	})
	return out
}

// RangoValor selects the RFM cells of one currency whose last purchase
// month is within [Desde, Hasta] ("" for open), frequency class in
// Frecuencias and, if Alto is set, that spend.
type RangoValor struct {
	Moneda       string
	Desde, Hasta string
	Frecuencias  []int
	Alto         *bool
}

// Contiene reports whether cell v is in r.
func (r RangoValor) Contiene(v CeldaValor) bool {
	return v.Moneda == r.Moneda && (r.Desde == "" || v.UltimoMes >= r.Desde) && (r.Hasta == "" || v.UltimoMes <= r.Hasta) &&
		slices.Contains(r.Frecuencias, v.Frecuencia) && (r.Alto == nil || *r.Alto == v.Alto)
}

// RangosSegmento are the cells of segmento in moneda in month mes: a
// customer is in the segment if one of its cells is in one of them (the
// same rule as Segmento, as ranges a store can query).
func RangosSegmento(segmento, moneda, mes string) []RangoValor {
	at := func(months int) string {
		t, _ := time.Parse("2006-01", mes)
		return t.AddDate(0, -months, 0).Format("2006-01")
	}
	yes, no := true, false
	all, repeat := []int{1, 2, 3}, []int{2, 3}
	reciente := RangoValor{Moneda: moneda, Desde: at(mesesReciente)}
	media := RangoValor{Moneda: moneda, Desde: at(mesesMedia), Hasta: at(mesesReciente + 1)}
	lejana := RangoValor{Moneda: moneda, Desde: at(mesesPerdido - 1), Hasta: at(mesesMedia + 1)}
	with := func(r RangoValor, f []int, alto *bool) RangoValor { r.Frecuencias, r.Alto = f, alto; return r }
	switch segmento {
	case SegmentoCampeones:
		return []RangoValor{with(reciente, []int{3}, &yes)}
	case SegmentoLeales:
		return []RangoValor{with(reciente, []int{2}, nil), with(reciente, []int{3}, &no), with(media, repeat, nil)}
	case SegmentoNuevos:
		return []RangoValor{with(reciente, []int{1}, nil)}
	case SegmentoPrometedores:
		return []RangoValor{with(media, []int{1}, nil)}
	case SegmentoEnRiesgo:
		return []RangoValor{with(lejana, repeat, nil)}
	case SegmentoHibernando:
		return []RangoValor{with(lejana, []int{1}, nil)}
	case SegmentoPerdidos:
		return []RangoValor{{Moneda: moneda, Hasta: at(mesesPerdido), Frecuencias: all}}
	}
	return nil
}
