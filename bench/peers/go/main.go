// Command evapi-go-peer is the "well-known Go recipe" that evapi is
// benchmarked against: net/http, database/sql with lib/pq, /health, /ready
// (db.Ping on every request), /version (injected with -ldflags -X) and a
// -health flag for container HEALTHCHECKs. Configured like evapi by env:
// PORT, BIND_ADDRESS, DATABASE_URL.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"
)

// Set at build time: go build -ldflags "-X main.version=... -X main.commit=... -X main.buildTime=...".
var (
	version   = "dev"
	commit    = "unknown"
	buildTime = "unknown"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // Encode appends "\n", like evapi's bodies.
}

func routes(db *sql.DB) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if db == nil || db.PingContext(ctx) != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"status": "unavailable", "checks": map[string]string{"database": "down"}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"status": "ok", "checks": map[string]string{"database": "ok"}})
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{
			"version": version, "commit": commit, "build_time": buildTime})
	})
	mux.HandleFunc("/hello/", hello)
	return mux
}

// The greeting of evapi's examples/hello plugin, the way a Go author writes
// GET /hello/{name} on Go 1.19's ServeMux (no path patterns before 1.22).
var greetings = map[string]string{"en": "Hello", "fr": "Bonjour", "de": "Hallo"}

func hello(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/hello/")
	if name == "" || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	lang := r.URL.Query().Get("lang")
	if lang == "" {
		lang = "en"
	}
	g, ok := greetings[lang]
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "lang must be en, fr or de"})
		return
	}
	w.Header().Set("Content-Language", lang)
	writeJSON(w, http.StatusOK, map[string]string{"message": g + ", " + name})
}

// probe is the -health mode: exit 0 if GET /health answers 200 within 2 s.
func probe(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/health")
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	health := flag.Bool("health", false, "probe GET /health on the local server and exit 0/1")
	flag.Parse()
	addr := net.JoinHostPort(getenv("BIND_ADDRESS", "127.0.0.1"), getenv("PORT", "8080"))
	if *health {
		os.Exit(probe(addr))
	}

	var db *sql.DB
	if url := os.Getenv("DATABASE_URL"); url != "" {
		var err error
		if db, err = sql.Open("postgres", url); err != nil {
			log.Fatalf("database: %v", err) // sql.Open only parses; never prints the URL.
		}
		// The usual production pool settings of the recipe.
		db.SetMaxOpenConns(25)
		db.SetMaxIdleConns(25)
		db.SetConnMaxLifetime(5 * time.Minute)
	}

	srv := &http.Server{
		Addr:              addr,
		Handler:           routes(db),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("listen: %v", err)
		}
	}()

	// Graceful shutdown on SIGTERM/SIGINT, bounded to 5 s.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if db != nil {
		db.Close()
	}
}
