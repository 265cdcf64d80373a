// modelstub: an OpenAI-compatible /v1/chat/completions that answers after a fixed latency,
// using almost no CPU, so a benchmark measures the client and not the stub.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	latency := flag.Duration("latency", 500*time.Millisecond, "answer after this long")
	flag.Parse()
	var n int64
	http.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(*latency)
		id := atomic.AddInt64(&n, 1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":"stub",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Temos sim! O modelo azul está em estoque. Posso separar um para você?"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":20,"completion_tokens":16,"total_tokens":36}}`, id, time.Now().Unix())
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	fmt.Println("listening on", *addr)
	if err := http.ListenAndServe(*addr, nil); err != nil {
		panic(err)
	}
}
