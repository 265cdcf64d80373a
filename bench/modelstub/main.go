// modelstub: an OpenAI-compatible /v1/chat/completions and /v1/audio/transcriptions that answer
// after a fixed latency, using almost no CPU, so a benchmark measures the client and not the stub.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// The transcript every voice note gets: deterministic, a question a persona answers.
const transcript = "Oi, vocês abrem no sábado? Queria passar aí para ver o modelo azul."

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	latency := flag.Duration("latency", 500*time.Millisecond, "answer chat completions after this long")
	transcriptionLatency := flag.Duration("transcription-latency", 300*time.Millisecond,
		"answer audio transcriptions after this long")
	flag.Parse()
	var n, transcriptions int64
	http.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(*latency)
		id := atomic.AddInt64(&n, 1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":"stub",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Temos sim! O modelo azul está em estoque. Posso separar um para você?"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":20,"completion_tokens":16,"total_tokens":36}}`, id, time.Now().Unix())
	})
	// Multipart in (`file`, `model`, optional `language` and `response_format`), as the SDK sends it.
	http.HandleFunc("/v1/audio/transcriptions", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, `{"error":{"message":"POST only"}}`, http.StatusMethodNotAllowed)
			return
		}
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			http.Error(w, fmt.Sprintf(`{"error":{"message":%q}}`, err.Error()), http.StatusBadRequest)
			return
		}
		defer r.MultipartForm.RemoveAll()
		file, _, err := r.FormFile("file")
		if err != nil || r.FormValue("model") == "" {
			http.Error(w, `{"error":{"message":"file and model are required"}}`, http.StatusBadRequest)
			return
		}
		io.Copy(io.Discard, file)
		file.Close()
		time.Sleep(*transcriptionLatency)
		atomic.AddInt64(&transcriptions, 1)
		switch r.FormValue("response_format") {
		case "text":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, transcript+"\n")
		case "verbose_json":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{
				"task": "transcribe", "language": r.FormValue("language"), "duration": 3.0,
				"text": transcript, "segments": []any{},
			})
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"text": transcript})
		}
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	fmt.Println("listening on", *addr)
	if err := http.ListenAndServe(*addr, nil); err != nil {
		panic(err)
	}
}
