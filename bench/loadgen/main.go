// loadgen: an HTTP load generator for Mirage's webhook benchmarks (standard library only).
//
// Every request gets a unique body from a template (so deduplication never short-cuts the
// work being measured) and its own credentials: an Evolution-style HS256 JWT, an HMAC of
// the body, or none. Two modes:
//
//	-mode closed -concurrency N : as fast as N workers can go (throughput)
//	-mode open   -rate R        : R requests/s on a fixed schedule; latency is measured from
//	                              each request's *scheduled* time, so a stalled server cannot
//	                              hide its queueing (no coordinated omission)
//
// It prints one JSON object with counts, throughput and latency percentiles in milliseconds.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	latency time.Duration
	status  int
	err     bool
}

type summary struct {
	Mode        string         `json:"mode"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	Statuses    map[string]int `json:"statuses"`
	DurationS   float64        `json:"duration_s"`
	RPS         float64        `json:"rps"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	TargetRate  float64        `json:"target_rate,omitempty"`
	Concurrency int            `json:"concurrency,omitempty"`
	// Open mode: request number n of the measured run (n >= FirstIndex) was scheduled at
	// StartUnixNs + (n - FirstIndex) * IntervalNs and used n in {{SEQ}}, {{ID}} and {{PHONE}}.
	FirstIndex  int64 `json:"first_index,omitempty"`
	StartUnixNs int64 `json:"start_unix_ns,omitempty"`
	IntervalNs  int64 `json:"interval_ns,omitempty"`
}

func jwtHS256(secret string, now time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload := enc.EncodeToString([]byte(fmt.Sprintf(
		`{"iat":%d,"exp":%d,"app":"evolution","action":"webhook"}`, now.Unix(), now.Unix()+600)))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(header + "." + payload))
	return header + "." + payload + "." + enc.EncodeToString(mac.Sum(nil))
}

func phoneOffset(n, phones int64) int64 {
	if phones <= 0 {
		return n
	}
	return n % phones
}

func main() {
	url := flag.String("url", "", "target URL")
	templatePath := flag.String("template", "", "body template file; {{SEQ}} {{ID}} {{TS}} {{PHONE}} are replaced")
	mode := flag.String("mode", "closed", "closed or open")
	concurrency := flag.Int("concurrency", 32, "workers (closed mode) / max in flight (open mode)")
	rate := flag.Float64("rate", 1000, "requests per second (open mode)")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	warmup := flag.Duration("warmup", 2*time.Second, "load before measuring (results discarded)")
	auth := flag.String("auth", "none", "jwt, hmac or none")
	secret := flag.String("secret", "", "JWT key or HMAC secret")
	prefix := flag.String("id-prefix", "B", "prefix of generated message ids (unique per run)")
	phoneBase := flag.Int64("phone-base", 5511900000000, "first phone number for {{PHONE}}")
	phones := flag.Int64("phones", 0, "cycle {{PHONE}} over this many numbers (0: a new number per request)")
	flag.Parse()

	raw, err := os.ReadFile(*templatePath)
	if err != nil || *url == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url and a readable -template are required")
		os.Exit(2)
	}
	template := string(raw)
	token := jwtHS256(*secret, time.Now())
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        *concurrency * 2,
			MaxIdleConnsPerHost: *concurrency * 2,
			MaxConnsPerHost:     *concurrency * 2,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
	var seq int64
	// n numbers the request: its schedule slot in open mode, a counter in closed mode.
	send := func(scheduled time.Time, n int64) result {
		body := strings.NewReplacer(
			"{{SEQ}}", strconv.FormatInt(n, 10),
			"{{ID}}", fmt.Sprintf("%s%016X", *prefix, n),
			"{{TS}}", strconv.FormatInt(time.Now().Unix(), 10),
			"{{PHONE}}", strconv.FormatInt(*phoneBase+phoneOffset(n, *phones), 10),
		).Replace(template)
		req, _ := http.NewRequest(http.MethodPost, *url, bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		switch *auth {
		case "jwt":
			req.Header.Set("Authorization", "Bearer "+token)
		case "hmac":
			mac := hmac.New(sha256.New, []byte(*secret))
			mac.Write([]byte(body))
			req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		}
		resp, err := client.Do(req)
		latency := time.Since(scheduled)
		if err != nil {
			return result{latency: latency, err: true}
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return result{latency: latency, status: resp.StatusCode}
	}

	var firstIndex int64
	var startedAt time.Time
	var interval time.Duration
	run := func(d time.Duration) ([]result, time.Duration) {
		var mu sync.Mutex
		results := make([]result, 0, 1<<16)
		record := func(r result) { mu.Lock(); results = append(results, r); mu.Unlock() }
		start := time.Now()
		startedAt = start
		firstIndex = seq + 1
		deadline := start.Add(d)
		var wg sync.WaitGroup
		if *mode == "closed" {
			for w := 0; w < *concurrency; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(deadline) {
						record(send(time.Now(), atomic.AddInt64(&seq, 1)))
					}
				}()
			}
		} else {
			interval = time.Duration(float64(time.Second) / *rate)
			slots := make(chan struct{}, *concurrency*64)
			for i := 0; ; i++ {
				scheduled := start.Add(time.Duration(i) * interval)
				if !scheduled.Before(deadline) {
					break
				}
				if wait := time.Until(scheduled); wait > 0 {
					time.Sleep(wait)
				}
				slots <- struct{}{}
				wg.Add(1)
				seq++
				go func(at time.Time, n int64) {
					defer wg.Done()
					record(send(at, n))
					<-slots
				}(scheduled, seq)
			}
		}
		wg.Wait()
		return results, time.Since(start)
	}

	if *warmup > 0 {
		run(*warmup)
	}
	results, elapsed := run(*duration)
	s := summary{Mode: *mode, Requests: len(results), Statuses: map[string]int{}, DurationS: elapsed.Seconds()}
	latencies := make([]float64, 0, len(results))
	for _, r := range results {
		if r.err {
			s.Errors++
			s.Statuses["error"]++
			continue
		}
		s.Statuses[strconv.Itoa(r.status)]++
		if r.status >= 400 {
			s.Errors++
		}
		latencies = append(latencies, float64(r.latency.Microseconds())/1000)
	}
	sort.Float64s(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))]
	}
	s.RPS = float64(len(results)-s.Errors) / elapsed.Seconds()
	s.P50ms, s.P90ms, s.P99ms = pct(0.50), pct(0.90), pct(0.99)
	if len(latencies) > 0 {
		s.MaxMs = latencies[len(latencies)-1]
	}
	if *mode == "open" {
		s.TargetRate = *rate
		s.FirstIndex = firstIndex
		s.StartUnixNs = startedAt.UnixNano()
		s.IntervalNs = interval.Nanoseconds()
	} else {
		s.Concurrency = *concurrency
	}
	json.NewEncoder(os.Stdout).Encode(s)
}
