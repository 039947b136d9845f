package handlers

import (
	"context"
	"time"
)

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

// Resumen returns customer id's purchase summary and lifetime value.
func (s *Service) Resumen(ctx context.Context, id int64) (Resumen, error) {
	if err := checkID(id); err != nil {
		return Resumen{}, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return Resumen{}, err
	}
	return s.resumenDe(ctx, c)
}

// resumenDe is customer c's purchase summary now.
func (s *Service) resumenDe(ctx context.Context, c Cliente) (Resumen, error) {
	a, _, err := s.historial.Agregados(ctx, c.ID)
	if err != nil {
		return Resumen{}, err
	}
	a.ClienteID = c.ID
	return NewResumen(a, c.Activo, s.now()), nil
}
