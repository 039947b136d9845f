package handlers

import (
	"context"
	"strings"
	"time"
)

// Periods of the acquisition report.
const (
	PeriodoDia    = "dia"
	PeriodoSemana = "semana" // ISO weeks, from Monday
	PeriodoMes    = "mes"
)

// MaxPuntosAdquisicion bounds the points of one acquisition report.
const MaxPuntosAdquisicion = 1000

// ConsultaAdquisicion asks for new customers per period. Every field is
// optional: Periodo defaults to mes, Hasta to today, Desde to Hasta minus
// 12 months (Lima dates, YYYY-MM-DD, both included).
type ConsultaAdquisicion struct {
	Periodo string `json:"periodo,omitempty"`
	Desde   string `json:"desde,omitempty"`
	Hasta   string `json:"hasta,omitempty"`
}

// PuntoAdquisicion is one period: its first day and the customers
// registered in it (within desde and hasta).
type PuntoAdquisicion struct {
	Inicio string `json:"inicio"`
	Nuevos int64  `json:"nuevos"`
}

// ReporteAdquisicion has one point per period from the one holding desde
// to the one holding hasta, zeros included.
type ReporteAdquisicion struct {
	Periodo string             `json:"periodo"`
	Desde   string             `json:"desde"`
	Hasta   string             `json:"hasta"`
	Puntos  []PuntoAdquisicion `json:"puntos"`
}

// ReporteAdquisicion counts the customers registered per day, week or
// month, active or not.
func (s *Service) ReporteAdquisicion(ctx context.Context, q ConsultaAdquisicion) (ReporteAdquisicion, error) {
	periodo, desde, hasta, err := s.consultaAdquisicion(q)
	if err != nil {
		return ReporteAdquisicion{}, err
	}
	n, err := s.reportes.Contadores(ctx, FamiliaAdquisicion)
	if err != nil {
		return ReporteAdquisicion{}, err
	}
	return AdquisicionDe(n, periodo, desde, hasta), nil
}

func (s *Service) consultaAdquisicion(q ConsultaAdquisicion) (periodo string, desde, hasta time.Time, err error) {
	var v fieldErrors
	periodo = q.Periodo
	switch periodo {
	case "":
		periodo = PeriodoMes
	case PeriodoDia, PeriodoSemana, PeriodoMes:
	default:
		v.add("periodo", "must be dia, semana or mes")
	}
	hasta = s.analizador.Hoy(s.now())
	if q.Hasta != "" {
		hasta = v.fechaDia("hasta", q.Hasta, 0)
	}
	desde = hasta.AddDate(0, -12, 0)
	if q.Desde != "" {
		desde = v.fechaDia("desde", q.Desde, 0)
	}
	if err := v.err("the report parameters are not valid"); err != nil {
		return "", time.Time{}, time.Time{}, err
	}
	switch {
	case hasta.Before(desde):
		v.add("hasta", "must not be before desde")
	case puntos(periodo, desde, hasta) > MaxPuntosAdquisicion:
		v.add("desde", "gives more than 1000 periods: choose a later desde or a longer periodo")
	}
	return periodo, desde, hasta, v.err("the report parameters are not valid")
}

// inicioPeriodo is the first day of the period holding day.
func inicioPeriodo(periodo string, day time.Time) time.Time {
	switch periodo {
	case PeriodoSemana:
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case PeriodoMes:
		return day.AddDate(0, 0, 1-day.Day())
	}
	return day
}

func siguientePeriodo(periodo string, start time.Time) time.Time {
	switch periodo {
	case PeriodoSemana:
		return start.AddDate(0, 0, 7)
	case PeriodoMes:
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

func puntos(periodo string, desde, hasta time.Time) int {
	days := int(hasta.Sub(desde)/(24*time.Hour)) + 1
	switch periodo {
	case PeriodoSemana:
		return days/7 + 2
	case PeriodoMes:
		return (hasta.Year()-desde.Year())*12 + int(hasta.Month()) - int(desde.Month()) + 1
	}
	return days
}

// AdquisicionDe builds the report from the acquisition counters.
func AdquisicionDe(n map[string]int64, periodo string, desde, hasta time.Time) ReporteAdquisicion {
	por := map[time.Time]int64{}
	from, to := desde.Format(time.DateOnly), hasta.Format(time.DateOnly)
	for key, v := range n {
		day, ok := strings.CutPrefix(key, FamiliaAdquisicion+"|")
		if !ok || day < from || day > to {
			continue
		}
		t, err := time.Parse(time.DateOnly, day)
		if err != nil {
			continue
		}
		por[inicioPeriodo(periodo, t)] += v
	}
	out := ReporteAdquisicion{Periodo: periodo, Desde: from, Hasta: to, Puntos: []PuntoAdquisicion{}}
	for p := inicioPeriodo(periodo, desde); !p.After(hasta); p = siguientePeriodo(periodo, p) {
		out.Puntos = append(out.Puntos, PuntoAdquisicion{Inicio: p.Format(time.DateOnly), Nuevos: por[p]})
	}
	return out
}
