package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jea/cliente/handlers"
	"github.com/jea/cliente/handlers/memstore"
)

var clock = time.Date(2026, 11, 25, 10, 30, 0, 123_456_789, time.UTC)

func newService() (*handlers.Service, *memstore.Store) {
	st := memstore.New()
	return memstore.Service(handlers.Deps{Store: st, Now: func() time.Time { return clock }}), st
}

func TestServiceCases(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		run    func(s *handlers.Service) (any, error)
		code   handlers.Code
		fields string
	}{
		{"crear valid", func(s *handlers.Service) (any, error) { return s.Crear(ctx, valid(), handlers.Cambio{}) }, "", ""},
		{"crear invalid", func(s *handlers.Service) (any, error) { return s.Crear(ctx, handlers.Datos{}, handlers.Cambio{}) }, handlers.CodeInvalid, "dni,nombre,email"},
		{"obtener id zero", func(s *handlers.Service) (any, error) { return s.Obtener(ctx, 0) }, handlers.CodeInvalid, "id"},
		{"obtener missing", func(s *handlers.Service) (any, error) { return s.Obtener(ctx, 7) }, handlers.CodeNotFound, ""},
		{"eliminar negative", func(s *handlers.Service) (any, error) { return s.Eliminar(ctx, -1, handlers.Cambio{}) }, handlers.CodeInvalid, "id"},
		{"eliminar missing", func(s *handlers.Service) (any, error) { return s.Eliminar(ctx, 7, handlers.Cambio{}) }, handlers.CodeNotFound, ""},
		{"actualizar bad id and fields", func(s *handlers.Service) (any, error) {
			return s.Actualizar(ctx, 0, handlers.Datos{DNI: ptr("1")}, handlers.Cambio{})
		}, handlers.CodeInvalid, "id,dni,nombre,email"},
		{"actualizar missing", func(s *handlers.Service) (any, error) { return s.Actualizar(ctx, 9, valid(), handlers.Cambio{}) }, handlers.CodeNotFound, ""},
		{"dni malformed", func(s *handlers.Service) (any, error) { return s.ObtenerPorDNI(ctx, "abc") }, handlers.CodeInvalid, "dni"},
		{"dni missing", func(s *handlers.Service) (any, error) { return s.ObtenerPorDNI(ctx, "99999999") }, handlers.CodeNotFound, ""},
		{"email malformed", func(s *handlers.Service) (any, error) { return s.ObtenerPorEmail(ctx, "nope") }, handlers.CodeInvalid, "email"},
		{"actualizar stale", func(s *handlers.Service) (any, error) {
			c, _ := s.Crear(ctx, valid(), handlers.Cambio{})
			return s.Actualizar(ctx, c.ID, valid(), handlers.Cambio{Version: ptr(int64(5))})
		}, handlers.CodePrecondition, "version"},
		{"eliminar stale", func(s *handlers.Service) (any, error) {
			c, _ := s.Crear(ctx, valid(), handlers.Cambio{})
			return s.Eliminar(ctx, c.ID, handlers.Cambio{Version: ptr(int64(0))})
		}, handlers.CodePrecondition, "version"},
		{"eliminar current version", func(s *handlers.Service) (any, error) {
			c, _ := s.Crear(ctx, valid(), handlers.Cambio{})
			return s.Eliminar(ctx, c.ID, handlers.Cambio{Version: ptr(c.Version)})
		}, "", ""},
		{"obtener varios too many", func(s *handlers.Service) (any, error) {
			return s.ObtenerVarios(ctx, make([]int64, handlers.MaxIDs+1))
		}, handlers.CodeInvalid, "ids"},
		{"obtener varios non-positive", func(s *handlers.Service) (any, error) { return s.ObtenerVarios(ctx, []int64{3, 0}) }, handlers.CodeInvalid, "ids"},
		{"obtener varios none", func(s *handlers.Service) (any, error) { return s.ObtenerVarios(ctx, nil) }, "", ""},
		{"validar id zero", func(s *handlers.Service) (any, error) { return s.ValidarParaVenta(ctx, 0) }, handlers.CodeInvalid, "id"},
		{"listar negative cursor", func(s *handlers.Service) (any, error) {
			return s.Listar(ctx, handlers.ConsultaClientes{DespuesDeID: -1, Limite: ptr(-1)})
		}, handlers.CodeInvalid, "despuesDeId,limite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newService()
			_, err := tc.run(s)
			if got := handlers.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
			if got := joined(fieldsOf(err)); got != tc.fields {
				t.Fatalf("fields %q, want %q", got, tc.fields)
			}
		})
	}
}

func joined(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

func TestCrearStampsAndNormalises(t *testing.T) {
	s, _ := newService()
	d := valid()
	d.Activo = ptr(false) // not honoured on create
	d.Email = ptr(" ANA@example.pe")
	c, err := s.Crear(context.Background(), d, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Activo || c.Email != "ana@example.pe" || !c.FechaRegistro.Equal(clock.Truncate(time.Millisecond)) || c.Version != 1 {
		t.Fatalf("created %+v", c)
	}
	got, err := s.ObtenerPorEmail(context.Background(), "Ana@Example.pe")
	if err != nil || got.ID != c.ID {
		t.Fatalf("lookup by email in other case: %+v, %v", got, err)
	}
	got, err = s.ObtenerPorDNI(context.Background(), "10117410-2")
	if err != nil || got.ID != c.ID {
		t.Fatalf("lookup by dni with check digit: %+v, %v", got, err)
	}
}

// Registrado, which bulk imports use, builds the customer Crear stores.
func TestRegistradoIsWhatCrearStores(t *testing.T) {
	s, st := newService()
	d := valid()
	c, err := s.Crear(context.Background(), d, handlers.Cambio{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := handlers.Registrado(c.ID, d, clock)
	if err != nil || !reflect.DeepEqual(got, stored) {
		t.Fatalf("Registrado = %+v, %v\n\tCrear stored %+v", got, err, stored)
	}
}

func TestActualizarKeepsRegistrationAndStatus(t *testing.T) {
	s, _ := newService()
	ctx := context.Background()
	c, _ := s.Crear(ctx, valid(), handlers.Cambio{})
	if _, err := s.Eliminar(ctx, c.ID, handlers.Cambio{}); err != nil {
		t.Fatal(err)
	}
	d := valid()
	d.Nombre = ptr("Ana María")
	u, err := s.Actualizar(ctx, c.ID, d, handlers.Cambio{})
	if err != nil || u.Activo || u.Nombre != "Ana María" || !u.FechaRegistro.Equal(c.FechaRegistro) {
		t.Fatalf("updated %+v, %v", u, err)
	}
	d.Activo = ptr(true)
	if u, err = s.Actualizar(ctx, c.ID, d, handlers.Cambio{}); err != nil || !u.Activo {
		t.Fatalf("reactivated %+v, %v", u, err)
	}
}

func TestErrorHelpers(t *testing.T) {
	cause := errors.New("socket closed")
	if got := handlers.AsError(cause); got.Code != handlers.CodeInternal || got.Message != "internal error" || !errors.Is(got, cause) {
		t.Fatalf("AsError(foreign) = %#v", got)
	}
	if handlers.ErrorCode(nil) != "" || handlers.AsError(nil) != nil {
		t.Fatal("nil error must stay nil")
	}
	wrapped := errors.Join(errors.New("ctx"), handlers.Conflict("email"))
	if handlers.ErrorCode(wrapped) != handlers.CodeConflict {
		t.Fatal("ErrorCode must see through wrapping")
	}
	if handlers.Code("teapot").Known() || !handlers.CodeUnavailable.Known() {
		t.Fatal("Known")
	}
}

func TestClienteJSONHasMillisecondTimestamps(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC):                       `"fechaRegistro":"2026-01-02T03:04:05.600Z"`,
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC):                                 `"fechaRegistro":"2026-01-02T03:04:05.000Z"`,
		time.Date(2026, 1, 2, 3, 4, 5, 123_000_000, time.FixedZone("PET", -5*3600)): `"fechaRegistro":"2026-01-02T08:04:05.123Z"`,
	} {
		raw, err := json.Marshal(handlers.Cliente{ID: 1, FechaRegistro: in})
		if err != nil || !strings.Contains(string(raw), want) || strings.Count(string(raw), "fechaRegistro") != 1 {
			t.Fatalf("%v -> %s (%v), want %s", in, raw, err, want)
		}
		var back handlers.Cliente
		if err := json.Unmarshal(raw, &back); err != nil || !back.FechaRegistro.Equal(in) || back.ID != 1 {
			t.Fatalf("round trip of %s: %+v, %v", raw, back, err)
		}
	}
}

func TestValidarParaVenta(t *testing.T) {
	ctx := context.Background()
	s, _ := newService()
	c, _ := s.Crear(ctx, valid(), handlers.Cambio{})
	for _, tc := range []struct {
		name   string
		id     int64
		valido bool
		motivo string
		prep   func()
	}{
		{"active", c.ID, true, "", func() {}},
		{"missing", 999, false, handlers.MotivoNoEncontrado, func() {}},
		{"inactive", c.ID, false, handlers.MotivoInactivo, func() { s.Eliminar(ctx, c.ID, handlers.Cambio{}) }},
	} {
		tc.prep()
		v, err := s.ValidarParaVenta(ctx, tc.id)
		if err != nil || v.Valido != tc.valido || v.Motivo != tc.motivo || (tc.motivo != handlers.MotivoNoEncontrado) != (v.Cliente != nil) {
			t.Errorf("%s: %+v, %v", tc.name, v, err)
		}
	}
}
