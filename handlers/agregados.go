package handlers

import (
	"slices"
	"strings"
	"time"
)

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
	// Meses are the Lima months (YYYY-MM) with a purchase that counts,
	// sorted: what the retention report needs of the history.
	Meses []string
}

// TotalMoneda is what a customer spent in one currency.
type TotalMoneda struct {
	Moneda  string
	Compras int
	Minor   int64
	// Ultima is the date of the last purchase in the currency.
	Ultima time.Time
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
	if c.Fecha.After(out.PorMoneda[i].Ultima) {
		out.PorMoneda[i].Ultima = c.Fecha
	}
	mes := c.Fecha.In(zonaLima).Format("2006-01")
	if j, found := slices.BinarySearch(a.Meses, mes); !found {
		out.Meses = slices.Insert(slices.Clone(a.Meses), j, mes)
	}
	return out
}

// Equal reports whether a and b hold the same totals.
func (a Agregados) Equal(b Agregados) bool {
	return a.ClienteID == b.ClienteID && a.Compras == b.Compras && a.Anuladas == b.Anuladas &&
		a.Items == b.Items && a.Primera.Equal(b.Primera) && a.Ultima.Equal(b.Ultima) &&
		slices.EqualFunc(a.PorMoneda, b.PorMoneda, func(x, y TotalMoneda) bool {
			return x.Moneda == y.Moneda && x.Compras == y.Compras && x.Minor == y.Minor && x.Ultima.Equal(y.Ultima)
		}) && slices.Equal(a.Meses, b.Meses)
}
