package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// customer is one seeded customer, as the read scenarios address it.
type customer struct {
	id         int64
	dni, email string
}

// seededDNI and postDNI keep the seeded customers and the ones the POST
// steps create in ranges of their own, so no create collides with another
// (every run has a database of its own).
func seededDNI(i int) string { return fmt.Sprintf("%08d", 10_000_000+i) }
func postDNI(i int64) string { return fmt.Sprintf("%08d", 60_000_000+i) }

// datosBody is a valid new customer's JSON body for the n-th create.
func datosBody(dni, email string) []byte {
	b, _ := json.Marshal(map[string]string{
		"dni": dni, "nombre": "Cliente", "apellido": "De Carga", "email": email,
		"telefono": "987654321", "direccion": "Av. Arequipa 1234, Lima",
	})
	return b
}

// scenarios are the request mixes, by name.
type scenarioSet struct {
	base      string
	header    http.Header
	customers []customer
	posted    atomic.Int64
}

func (s *scenarioSet) get(path string) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		c := s.customers[rand.IntN(len(s.customers))]
		t.Method, t.Header, t.Body = http.MethodGet, s.header, nil
		switch path {
		case "dni":
			t.URL = s.base + "/cliente/dni/" + c.dni
		case "email":
			t.URL = s.base + "/cliente/email/" + c.email
		default:
			t.URL = fmt.Sprintf("%s/cliente/%d", s.base, c.id)
		}
		return nil
	}
}

func (s *scenarioSet) post(t *vegeta.Target) error {
	n := s.posted.Add(1)
	t.Method, t.URL, t.Header = http.MethodPost, s.base+"/cliente", s.header
	t.Body = datosBody(postDNI(n), fmt.Sprintf("p%d@post.carga.pe", n))
	return nil
}

// targeter returns the targeter of a scenario name, or nil if unknown.
func (s *scenarioSet) targeter(name string) vegeta.Targeter {
	switch name {
	case "get-id":
		return s.get("id")
	case "get-dni":
		return s.get("dni")
	case "get-email":
		return s.get("email")
	case "post":
		return s.post
	case "mix": // 90 % reads by id, 10 % creates
		byID := s.get("id")
		return func(t *vegeta.Target) error {
			if rand.IntN(10) == 0 {
				return s.post(t)
			}
			return byID(t)
		}
	}
	return nil
}

// maxWorkers bounds the load generator's concurrent requests (and
// connections): open loop up to there, so a stalled target cannot make it
// spawn without end. A step that needs more shows as achieved < offered.
const maxWorkers = 4096

// attack sends rate requests per second for du and returns every request's
// outcome once all have answered or timed out (requestTimeout).
func attack(ctx context.Context, tr vegeta.Targeter, rate int, du, requestTimeout time.Duration, name string) []sample {
	// Its own transport, closed at the end: connections left open would
	// sit idle on the edge (2 minutes each, a goroutine and buffers) and
	// count in its memory at rest.
	transport := &http.Transport{MaxIdleConnsPerHost: maxWorkers, MaxConnsPerHost: maxWorkers,
		DialContext: (&net.Dialer{Timeout: requestTimeout, KeepAlive: 30 * time.Second}).DialContext}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	a := vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxWorkers(maxWorkers), vegeta.MaxBody(1024))
	stop := context.AfterFunc(ctx, func() { a.Stop() })
	defer stop()
	samples := make([]sample, 0, int(float64(rate)*du.Seconds()))
	for r := range a.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, du, name) {
		samples = append(samples, sample{start: r.Timestamp, latency: r.Latency, ok: r.Error == "" && r.Code >= 200 && r.Code < 300})
	}
	return samples
}
