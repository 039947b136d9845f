// Command bench measures the latency of sequential GET /cliente/{id}
// through a running edge: it creates one customer, then reads it -n times
// one after another and prints percentiles. Loops are bounded by -n and
// -max-duration; it only targets the loopback address it is given.
//
//	make bench          # starts the dev stack, runs 1,000 GETs, stops it
//	go run ./cmd/bench -url http://127.0.0.1:8080 -n 1000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/edgehttp"
)

func main() {
	app.Main("bench", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "edge base URL (loopback only)")
	n := fs.Int("n", 1000, "number of sequential GETs")
	warmup := fs.Int("warmup", 50, "GETs before measuring")
	maxDur := fs.Duration("max-duration", 2*time.Minute, "stop after this long whatever -n says")
	readyWait := fs.Duration("ready-wait", 3*time.Minute, "how long to wait for /readyz")
	tokenFile := fs.String("token-file", ".data/dev-token", "file holding the access token (the dev stack writes one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := edgehttp.LoopbackOnly(*base); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *readyWait+*maxDur)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	if err := edgehttp.WaitReady(ctx, client, *base+"/readyz", *readyWait); err != nil {
		return err
	}
	// Read once ready: the stack writes the token before its edge serves.
	token, err := edgehttp.BearerFromFile(*tokenFile)
	if err != nil {
		return err
	}
	client.Transport = token
	id, err := createOne(ctx, client, *base)
	if err != nil {
		return err
	}
	path := fmt.Sprintf("%s/cliente/%d", *base, id)
	deadline := time.Now().Add(*maxDur)
	for range *warmup {
		if _, err := get(ctx, client, path); err != nil {
			return err
		}
	}
	lat := make([]time.Duration, 0, *n)
	start := time.Now()
	for i := 0; i < *n && time.Now().Before(deadline); i++ {
		d, err := get(ctx, client, path)
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	total := time.Since(start)
	slices.Sort(lat)
	fmt.Fprintf(stdout, "GET /cliente/{id}: %d sequential requests in %v (%.0f req/s)\n", len(lat), total.Round(time.Millisecond), float64(len(lat))/total.Seconds())
	fmt.Fprintf(stdout, "  p50 %v  p90 %v  p99 %v  max %v\n", pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1])
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)].Round(10 * time.Microsecond)
}

func createOne(ctx context.Context, c *http.Client, base string) (int64, error) {
	dni := fmt.Sprintf("%08d", rand.IntN(100_000_000))
	body, _ := json.Marshal(map[string]string{"dni": dni, "nombre": "Bench", "email": "bench." + dni + "@example.pe"})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/cliente", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct{ ID int64 }
	if resp.StatusCode != http.StatusCreated {
		raw, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("create: %d %s", resp.StatusCode, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

func get(ctx context.Context, c *http.Client, url string) (time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return d, err
}
