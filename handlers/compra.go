package handlers

import (
	"encoding/json"
	"fmt"
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

// compraJSON is a purchase as the history routes show it; amounts are
// decimal strings in the sale's currency.
type compraJSON struct {
	VentaID         string `json:"ventaId"`
	ClienteID       int64  `json:"clienteId"`
	Fecha           string `json:"fecha"`
	Total           string `json:"total"`
	Moneda          string `json:"moneda"`
	Items           int    `json:"items"`
	Anulada         bool   `json:"anulada"`
	FechaAnulacion  string `json:"fechaAnulacion,omitempty"`
	ClienteInactivo bool   `json:"clienteInactivo,omitempty"`
}

// MarshalJSON writes a purchase as the history routes show it.
func (c Compra) MarshalJSON() ([]byte, error) {
	out := compraJSON{
		VentaID: c.VentaID, ClienteID: c.ClienteID, Fecha: formatFecha(c.Fecha),
		Total: c.Total.String(), Moneda: c.Total.Moneda, Items: c.Items,
		Anulada: c.Anulada, ClienteInactivo: c.ClienteInactivo,
	}
	if c.Anulada {
		out.FechaAnulacion = formatFecha(c.FechaAnulacion)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote (a history page as a client
// receives it). Only registered purchases are ever shown.
func (c *Compra) UnmarshalJSON(b []byte) error {
	var in compraJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	total, msg := ParseImporte(in.Total, in.Moneda)
	if msg != "" {
		return fmt.Errorf("purchase %s: total %s", in.VentaID, msg)
	}
	fecha, err := time.Parse(time.RFC3339Nano, in.Fecha)
	if err != nil {
		return fmt.Errorf("purchase %s: %w", in.VentaID, err)
	}
	*c = Compra{VentaID: in.VentaID, ClienteID: in.ClienteID, Fecha: fecha, Total: total, Items: in.Items,
		Registrada: true, Anulada: in.Anulada, ClienteInactivo: in.ClienteInactivo}
	if in.Anulada {
		if c.FechaAnulacion, err = time.Parse(time.RFC3339Nano, in.FechaAnulacion); err != nil {
			return fmt.Errorf("purchase %s: %w", in.VentaID, err)
		}
	}
	return nil
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
	var v fieldErrors
	c.VentaID = v.ventaID(d.VentaID)
	c.ClienteID = v.clienteID(d.ClienteID)
	c.Fecha = v.fecha("fecha", d.Fecha, now)

	moneda := ""
	if d.Moneda == nil || strings.TrimSpace(*d.Moneda) == "" {
		v.add("moneda", "is required")
	} else if m, msg := NormalizeMoneda(*d.Moneda); msg != "" {
		v.add("moneda", msg)
	} else {
		moneda = m
	}
	switch {
	case d.Total == nil || *d.Total == "":
		v.add("total", "is required")
	case moneda != "":
		imp, msg := ParseImporte(string(*d.Total), moneda)
		if msg != "" {
			v.add("total", msg)
		}
		c.Total = imp
	}

	switch {
	case d.Items == nil:
		v.add("items", "is required")
	case *d.Items < 1 || *d.Items > maxItems:
		v.add("items", "must be between 1 and 100000")
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
	var v fieldErrors
	ventaID = v.ventaID(d.VentaID)
	clienteID = v.clienteID(d.ClienteID)
	fecha = v.fecha("fecha", d.Fecha, now)
	return ventaID, clienteID, fecha, v.err("the cancellation event is not valid")
}

func (v *fieldErrors) ventaID(s *string) string {
	switch {
	case s == nil || *s == "":
		v.add("ventaId", "is required")
	case len(*s) > maxVentaID || !PrintableASCII(*s) || strings.TrimSpace(*s) != *s:
		v.add("ventaId", "must be 1 to 64 printable ASCII characters, without surrounding spaces")
	default:
		return *s
	}
	return ""
}

func (v *fieldErrors) clienteID(id *int64) int64 {
	switch {
	case id == nil:
		v.add("clienteId", "is required")
	case *id <= 0:
		v.add("clienteId", "must be a positive integer")
	default:
		return *id
	}
	return 0
}

func (v *fieldErrors) fecha(field string, s *string, now time.Time) time.Time {
	if s == nil || *s == "" {
		v.add(field, "is required")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	switch {
	case err != nil:
		v.add(field, "must be an RFC 3339 date-time with a time zone, e.g. 2026-11-25T15:04:05Z")
	case t.Year() < 2000:
		v.add(field, "must not be before the year 2000")
	case t.After(now.Add(maxAdelanto)):
		v.add(field, "must not be in the future")
	default:
		return truncateToMillis(t)
	}
	return time.Time{}
}
