// Command benchlist measures listing and search through a running edge
// with many customers stored: it tops the store up to -customers (over
// HTTP, -concurrency at a time; customers already there count), then
// walks every page of GET /cliente and runs -searches searches, timing
// each request. Loops are bounded by their counts and -max-duration; it
// only targets the loopback address it is given.
//
//	make bench-list     # dev stack on a kept data dir, 20,000 customers
//	go run ./cmd/benchlist -url http://127.0.0.1:8080 -customers 20000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/edgehttp"
)

func main() {
	app.Main("benchlist", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

// Names the seeded customers are drawn from, so that searches match a few
// hundred of them each.
var (
	nombres   = []string{"María", "José", "Rosa", "Luis", "Ana", "Carlos", "Lucía", "Jorge", "Elena", "Víctor"}
	apellidos = []string{"Quispe", "Huamán", "Mamani", "Flores", "Rojas", "Sánchez", "Díaz", "Torres", "Chávez", "Ñahui"}
)

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchlist", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "edge base URL (loopback only)")
	customers := fs.Int("customers", 20000, "customers to have stored before measuring")
	concurrency := fs.Int("concurrency", 8, "creates in flight while seeding")
	limite := fs.Int("limite", 100, "page size of the walk")
	searches := fs.Int("searches", 200, "searches to time")
	maxDur := fs.Duration("max-duration", 15*time.Minute, "stop after this long whatever the counts say")
	tokenFile := fs.String("token-file", ".data/dev-token", "file holding the access token (the dev stack writes one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := edgehttp.LoopbackOnly(*base); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *maxDur)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	if err := edgehttp.WaitReady(ctx, client, *base+"/readyz", 3*time.Minute); err != nil {
		return err
	}
	// Read once ready: the stack writes the token before its edge serves.
	token, err := edgehttp.BearerFromFile(*tokenFile)
	if err != nil {
		return err
	}
	client.Transport = token

	stored, err := count(ctx, client, *base)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := seed(ctx, client, *base, stored, *customers, *concurrency); err != nil {
		return err
	}
	if added := *customers - stored; added > 0 {
		fmt.Fprintf(stdout, "seeded %d customers in %s (%.0f/s); %d stored\n", added, time.Since(start).Round(time.Millisecond),
			float64(added)/time.Since(start).Seconds(), *customers)
	}

	var pages []time.Duration
	seen, err := walk(ctx, client, *base, fmt.Sprintf("/cliente?limite=%d", *limite), func(d time.Duration) { pages = append(pages, d) })
	if err != nil {
		return err
	}
	if seen < *customers {
		return fmt.Errorf("benchlist: the walk saw %d customers, want at least %d", seen, *customers)
	}
	var found []time.Duration
	matches := 0
	for i := range *searches {
		q := url.Values{"q": {prefix(nombres[i%len(nombres)], 3) + " " + prefix(apellidos[(i/len(nombres))%len(apellidos)], 4)}}
		var list []json.RawMessage
		d, _, err := get(ctx, client, *base+"/cliente?"+q.Encode(), &list)
		if err != nil {
			return err
		}
		found = append(found, d)
		matches += len(list)
	}
	if matches == 0 {
		return errors.New("benchlist: no search found anyone")
	}
	fmt.Fprintf(stdout, "%-26s %6s %9s %9s %9s %9s\n", "request", "n", "min", "median", "p90", "max")
	report(stdout, fmt.Sprintf("list page (limite=%d)", *limite), pages)
	report(stdout, "search (q=two prefixes)", found)
	fmt.Fprintf(stdout, "walk: %d pages, %d customers; searches: %d, %.1f matches on average\n",
		len(pages), seen, len(found), float64(matches)/float64(len(found)))
	return nil
}

func report(w io.Writer, name string, ds []time.Duration) {
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(w, "%-26s %6d %9s %9s %9s %9s\n", name, len(ds), ms(ds[0]), ms(at(0.5)), ms(at(0.9)), ms(ds[len(ds)-1]))
}

// count counts what is stored, walking the listing in the largest pages.
func count(ctx context.Context, client *http.Client, base string) (int, error) {
	return walk(ctx, client, base, "/cliente?limite=1000", func(time.Duration) {})
}

// walk reads every page of the listing from path on, following its Link
// headers, telling timed how long each page took; it returns how many
// customers it saw.
func walk(ctx context.Context, client *http.Client, base, path string, timed func(time.Duration)) (int, error) {
	n := 0
	for path != "" {
		var list []json.RawMessage
		d, next, err := get(ctx, client, base+path, &list)
		if err != nil {
			return n, err
		}
		timed(d)
		n += len(list)
		path = next
	}
	return n, nil
}

func seed(ctx context.Context, client *http.Client, base string, from, to, concurrency int) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	runID := time.Now().UnixNano()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to || ctx.Err() != nil {
					return
				}
				body, _ := json.Marshal(map[string]string{
					"dni": fmt.Sprintf("%08d", 50_000_000+i), "nombre": nombres[i%len(nombres)],
					"apellido": apellidos[(i/len(nombres))%len(apellidos)] + " " + apellidos[(i/7)%len(apellidos)],
					"email":    fmt.Sprintf("bench.%d.%d@example.pe", runID, i),
				})
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/cliente", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("benchlist-%d", i))
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				// 409: a DNI left by an earlier run, which counts as stored.
				if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
					errs <- fmt.Errorf("benchlist: POST /cliente: %s", resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// get reads u into out, returning how long it took and the next page's
// path, if any.
func get(ctx context.Context, client *http.Client, u string, out any) (time.Duration, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, "", err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("benchlist: GET %s: %s %.200s", u, resp.Status, raw)
	}
	return d, edgehttp.NextLink(resp.Header), json.Unmarshal(raw, out)
}

// prefix is the first n characters of s.
func prefix(s string, n int) string { return string([]rune(s)[:min(n, len([]rune(s)))]) }
